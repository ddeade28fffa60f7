#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration

extension LogLevel {
    /// The syslog priority prefix journald understands on stderr (`<7>` … `<3>`).
    var syslogPrefix: String { ["<7>", "<6>", "<4>", "<3>"][rawValue] }
}

/// One-line log messages on stderr. Under systemd (`$JOURNAL_STREAM` set) lines carry
/// syslog priority prefixes so journald files them at the right level; otherwise they
/// start with the program name and level.
public struct Logger: Sendable {
    /// The least severe level written.
    public var level: LogLevel
    private let program: String
    private let journal: Bool

    /// A logger for `program` writing `level` and above.
    public init(program: String, level: LogLevel, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.program = program
        self.level = level
        self.journal = environment["JOURNAL_STREAM"] != nil
    }

    /// Writes `message` if `severity` is at least the logger's level.
    public func log(_ severity: LogLevel, _ message: @autoclosure () -> String) {
        guard severity >= level else { return }
        let line = journal ? "\(severity.syslogPrefix)\(message())\n" : "\(program): \(severity.name): \(message())\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
}
