#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd about the daemon's state (`sd_notify`): READY, WATCHDOG pings, RELOADING,
/// STOPPING and STATUS lines, as datagrams to `$NOTIFY_SOCKET`. Does nothing when the
/// variable is unset (not started by systemd), so it is always safe to call.
public struct SystemdNotifier: Sendable {
    private let socketPath: String?
    /// The watchdog interval systemd asked for (`$WATCHDOG_USEC`), if any.
    public let watchdogInterval: Double?

    /// Reads `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, which must be ours).
    public init(environment: [String: String]) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = environment["WATCHDOG_USEC"], let microseconds = Double(text), microseconds > 0,
           environment["WATCHDOG_PID"].map({ Int32($0) == getpid() }) ?? true {
            watchdogInterval = microseconds / 1_000_000
        } else {
            watchdogInterval = nil
        }
    }

    /// Whether a notification socket is configured.
    public var isActive: Bool { socketPath != nil }

    /// Sends `READY=1` (sockets bound, serving).
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    /// Sends `WATCHDOG=1` (the loop is healthy).
    public func watchdog() { send("WATCHDOG=1") }
    /// Sends `RELOADING=1` with the monotonic timestamp systemd ≥ 253 wants.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int(now.tv_sec) * 1_000_000 + Int(now.tv_nsec) / 1000)")
    }
    /// Sends `STOPPING=1`.
    public func stopping() { send("STOPPING=1") }
    /// Sends a free-form status line.
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// Sends one datagram; failures are ignored (systemd may be gone, nothing to do about it).
    public func send(_ message: String) {
        guard let socketPath else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in pathBytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count + (pathBytes.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        // Never wait: a manager that stops reading (its queue full) must not stall the samples.
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), socketAddress, length) }
            }
        }
    }
}
