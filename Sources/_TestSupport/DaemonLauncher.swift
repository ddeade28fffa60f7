#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ZeroMQ

/// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`: the daemon's READY,
/// RELOADING, WATCHDOG and STOPPING messages arrive here.
public final class NotifyListener: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32

    public init(path: String) {
        self.path = path
        unlink(path)
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in path.utf8.enumerated() { raw[i] = b } }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next message, or nil after `timeout` seconds.
    public func next(timeout: Double) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(timeout * 1000)) > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }

    /// Waits for a message containing `text`; nil when none came within `timeout` seconds.
    public func wait(for text: String, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let message = next(timeout: max(0.01, deadline.timeIntervalSinceNow)), message.contains(text) { return message }
        }
        return nil
    }
}

/// A real `gazefilterd` process on ipc:// endpoints in a private directory, for integration tests.
public final class DaemonProcess: @unchecked Sendable {
    public let directory: String
    public let inputEndpoint: String
    public let outputEndpoint: String
    public let process = Process()
    public let notify: NotifyListener
    public let logPath: String

    /// Starts the daemon with `arguments` and waits for READY=1. Its endpoints are ipc://
    /// sockets in `directory` unless given (say, a forwarder's, with `--input-connect`). With
    /// `memoryLimitKiB`, it runs under `ulimit -v`; `limits` are further `ulimit` arguments
    /// (`["-n 256"]`); a shell sets them and becomes the daemon (same pid). For tests that feed
    /// hostile input or leave the daemon few descriptors.
    public init(directory: String, arguments: [String], environment: [String: String] = [:],
                inputEndpoint: String? = nil, outputEndpoint: String? = nil, memoryLimitKiB: Int? = nil, limits: [String] = [],
                workingDirectory: String? = nil) throws {
        self.directory = directory
        self.inputEndpoint = inputEndpoint ?? "ipc://\(directory)/in.sock"
        self.outputEndpoint = outputEndpoint ?? "ipc://\(directory)/out.sock"
        logPath = directory + "/daemon.log"
        notify = NotifyListener(path: directory + "/notify.sock")
        let daemonArguments = ["--input", self.inputEndpoint, "--output", self.outputEndpoint] + arguments
        let limits = limits + (memoryLimitKiB.map { ["-v \($0)"] } ?? [])
        if limits.isEmpty {
            process.executableURL = URL(fileURLWithPath: executablePath("gazefilterd"))
            process.arguments = daemonArguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            let script = limits.map { "ulimit \($0) && " }.joined() + "exec \"$0\" \"$@\""
            process.arguments = ["-c", script, executablePath("gazefilterd")] + daemonArguments
        }
        // The daemon's default state directory (recordings, pid file) inside the test's directory,
        // never the user's own ~/.local/state.
        let defaults = ["NOTIFY_SOCKET": notify.path, "XDG_STATE_HOME": directory + "/state"]
        process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "STATE_DIRECTORY" }
            .merging(defaults.merging(environment) { $1 }) { $1 }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)!
        process.standardError = log
        process.standardOutput = log
        try process.run()
        guard notify.wait(for: "READY=1", timeout: 20) != nil else {
            process.terminate()
            throw LaunchError(message: "gazefilterd did not report READY=1: \(self.log)")
        }
    }

    /// What the daemon wrote on stderr so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the log contains `text` (or `timeout` passes); returns whether it did.
    public func waitForLog(_ text: String, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Sends a signal.
    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Sends SIGTERM and waits for exit; returns (status, seconds taken), or nil if it did not exit in 10 s.
    public func terminate() -> (status: Int32, seconds: Double)? {
        let start = Date()
        signal(SIGTERM)
        while process.isRunning && Date().timeIntervalSince(start) < 10 { usleep(5_000) }
        guard !process.isRunning else { process.interrupt(); return nil }
        return (process.terminationStatus, Date().timeIntervalSince(start))
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

    public struct LaunchError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}

/// A test client of a daemon: publishes raw frames to its input and reads its output.
public final class GazeTestClient {
    public let context: ZMQContext
    public let publisher: ZMQSocket
    public let subscriber: ZMQSocket

    /// Connects to a daemon and makes sure both directions are live: the daemon has
    /// subscribed to our publisher, and our subscription has reached its publisher
    /// (probed with samples on stream `probe`, whose estimates are consumed here).
    /// `curve` makes both sockets CURVE clients of a daemon with that server key.
    public init(daemon: DaemonProcess, topic: String = "gaze.", curve: CurveClientKeys? = nil) throws {
        context = try ZMQContext()
        publisher = try ZMQSocket(context, type: .extendedPublisher)
        try publisher.setSendHighWaterMark(0)
        try publisher.setLinger(milliseconds: 2000)
        try curve?.apply(to: publisher)
        try publisher.connect(daemon.inputEndpoint)
        try publisher.setReceiveTimeout(milliseconds: 10_000)
        guard let subscription = try publisher.receiveMultipart(), subscription.first?.first == 1 else {
            throw DaemonProcess.LaunchError(message: "the daemon never subscribed to the test publisher")
        }
        subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(0)
        try curve?.apply(to: subscriber)
        try subscriber.subscribe(topic)
        try subscriber.connect(daemon.outputEndpoint)
        try subscriber.setReceiveTimeout(milliseconds: 50)
        var probe = 0.0
        while true {
            try publish(stream: "probe", json: "{\"t\": \(probe), \"x\": 1, \"y\": 1}")
            probe += 1
            if let frames = try subscriber.receiveMultipart(), String(decoding: frames[0], as: UTF8.self) == "gaze.clean.probe" { break }
            guard probe < 400 else { throw DaemonProcess.LaunchError(message: "no estimate came back for the probe stream") }
        }
        try subscriber.setReceiveTimeout(milliseconds: 200)
        while let frames = try subscriber.receiveMultipart(), String(decoding: frames[0], as: UTF8.self).hasSuffix("probe") {}
        try subscriber.setReceiveTimeout(milliseconds: 5000)
    }

    /// Publishes a two-frame raw message.
    public func publish(stream: String, json: String) throws {
        try publisher.sendMultipart([Array("gaze.raw.\(stream)".utf8), Array(json.utf8)])
    }

    /// Publishes arbitrary frames (for malformed-message tests).
    public func publish(frames: [[UInt8]]) throws { try publisher.sendMultipart(frames) }

    /// Receives messages until `count` arrived on topics passing `filter`, or 5 s pass without
    /// one, or 60 s in all.
    public func receive(count: Int, where filter: (String) -> Bool = { !$0.hasSuffix(".probe") }) throws -> [(topic: String, payload: [UInt8])] {
        var result: [(String, [UInt8])] = []
        let deadline = Date().addingTimeInterval(60)
        var lastMatch = Date()
        while result.count < count, Date() < deadline, Date().timeIntervalSince(lastMatch) < 5, let frames = try subscriber.receiveMultipart() {
            defer { if filter(String(decoding: frames[0], as: UTF8.self)) { lastMatch = Date() } }
            let topic = String(decoding: frames[0], as: UTF8.self)
            if filter(topic) { result.append((topic, frames.count > 1 ? frames[1] : [])) }
        }
        return result
    }
}

/// A CURVE client's keys for a test socket: the server's public key and the client's pair (Z85).
public struct CurveClientKeys: Sendable {
    public let serverKey: String
    public let publicKey: String
    public let secretKey: String

    public init(serverKey: String, publicKey: String, secretKey: String) {
        self.serverKey = serverKey
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Makes `socket` a CURVE client with these keys (before it connects).
    public func apply(to socket: ZMQSocket) throws {
        try socket.makeCurveClient(serverKey: serverKey, publicKey: publicKey, secretKey: secretKey)
    }
}
