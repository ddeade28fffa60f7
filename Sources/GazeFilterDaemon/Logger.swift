#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeKit
import Synchronization

extension LogLevel {
    /// The syslog priority prefix journald understands on stderr (`<7>` … `<3>`).
    var syslogPrefix: String { ["<7>", "<6>", "<4>", "<3>"][rawValue] }
}

/// One-line log messages on stderr. Under systemd (`$JOURNAL_STREAM` set) lines carry
/// syslog priority prefixes so journald files them at the right level; otherwise they
/// start with the program name and level.
///
/// Every kind of line is rate-limited: each call site (or each named `kind`) may log a burst
/// of `LogLimits.burst` lines, then one a second; lines held back are counted and the next
/// line of that kind says how many. A message is formatted only when it is written, so a
/// flood (SIGHUPs, junk streams) costs neither formatting nor journal space.
public struct Logger: Sendable {
    /// The least severe level written.
    public var level: LogLevel
    private let program: String
    private let journal: Bool
    private let limits = LogLimits()

    /// A logger for `program` writing `level` and above.
    public init(program: String, level: LogLevel, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.program = program
        self.level = level
        self.journal = environment["JOURNAL_STREAM"] != nil
    }

    /// Writes `message` if `severity` is at least the logger's level and its kind (`kind`, or
    /// else the call site) is within its rate.
    public func log(_ severity: LogLevel, _ message: @autoclosure () -> String, kind: StaticString? = nil,
                    file: StaticString = #fileID, line: UInt = #line) {
        guard severity >= level else { return }
        let key = LogLimits.Key(text: Int(bitPattern: (kind ?? file).utf8Start), line: kind == nil ? line : 0)
        guard let heldBack = limits.admit(key, now: monotonicSeconds()) else { return }
        let text = message() + (heldBack > 0 ? " (\(heldBack) more like it held back)" : "")
        let line = journal ? "\(severity.syslogPrefix)\(text)\n" : "\(program): \(severity.name): \(text)\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    public func debug(_ message: @autoclosure () -> String, kind: StaticString? = nil, file: StaticString = #fileID, line: UInt = #line) {
        log(.debug, message(), kind: kind, file: file, line: line)
    }
    public func info(_ message: @autoclosure () -> String, kind: StaticString? = nil, file: StaticString = #fileID, line: UInt = #line) {
        log(.info, message(), kind: kind, file: file, line: line)
    }
    public func warning(_ message: @autoclosure () -> String, kind: StaticString? = nil, file: StaticString = #fileID, line: UInt = #line) {
        log(.warning, message(), kind: kind, file: file, line: line)
    }
    public func error(_ message: @autoclosure () -> String, kind: StaticString? = nil, file: StaticString = #fileID, line: UInt = #line) {
        log(.error, message(), kind: kind, file: file, line: line)
    }
}

/// Token buckets per kind of log line, shared by every copy of a `Logger`.
final class LogLimits: Sendable {
    /// Lines of one kind written at once before the rate applies.
    static let burst = 5.0
    /// Lines of one kind per second after the burst.
    static let rate = 1.0

    struct Key: Hashable { var text: Int; var line: UInt }
    private struct Bucket { var tokens = LogLimits.burst; var last = -Double.infinity; var heldBack: UInt64 = 0 }
    private let buckets = Mutex<[Key: Bucket]>([:])

    /// Whether a line of `key` may be written now, and how many were held back before it.
    func admit(_ key: Key, now: Double) -> UInt64? {
        buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket()
            defer { buckets[key] = bucket }
            bucket.tokens = min(Self.burst, bucket.tokens + (now - bucket.last) * Self.rate)
            bucket.last = now
            guard bucket.tokens >= 1 else {
                bucket.heldBack += 1
                return nil
            }
            bucket.tokens -= 1
            defer { bucket.heldBack = 0 }
            return bucket.heldBack
        }
    }
}
