#if canImport(Glibc)
import Glibc
#endif

/// Standard output and standard error as the tools write them: whole buffers, short writes
/// and EINTR retried, failures (a closed pipe, a full disk) thrown rather than trapping or
/// killing the process with SIGPIPE.
public enum StandardStream: Int32, Sendable {
    case output = 1
    case error = 2

    /// Writes every byte of `bytes`.
    /// - Throws: `StandardStreamError` with the system's reason (EPIPE, ENOSPC, ...).
    public func write(_ bytes: some Collection<UInt8>) throws(StandardStreamError) {
        let failure: Int32? = bytes.withContiguousStorageIfAvailable { buffer in
            Self.writeAll(rawValue, UnsafeRawBufferPointer(buffer))
        } ?? Array(bytes).withUnsafeBytes { Self.writeAll(rawValue, $0) }
        if let failure { throw StandardStreamError(stream: self, code: failure) }
    }

    /// Writes the UTF-8 of `text`.
    public func write(_ text: String) throws(StandardStreamError) {
        try write(text.utf8)
    }

    /// Makes a write to a closed pipe fail with EPIPE instead of killing the process.
    /// Tools call this once at start (`CommandGroup.run` does).
    public static func ignoreBrokenPipes() { signal(SIGPIPE, SIG_IGN) }

    /// nil on success, else errno.
    private static func writeAll(_ descriptor: Int32, _ raw: UnsafeRawBufferPointer) -> Int32? {
        var offset = 0
        while offset < raw.count {
            let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return nil
    }
}

/// Standard output or error could not be written: exit status 1 with this one line.
public struct StandardStreamError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Which stream failed.
    public let stream: StandardStream
    /// The errno value.
    public let code: Int32

    public var description: String {
        "cannot write to standard \(stream == .output ? "output" : "error"): \(String(cString: strerror(code)))"
    }
}
