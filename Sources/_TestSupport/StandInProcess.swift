import Foundation

/// The Python venv that `scripts/setup` makes for the tracker stand-ins and the LSL relay
/// (pyzmq, msgpack, pylsl with its liblsl).
public let trackersPython = packageRoot + "/.venv-trackers/bin/python"

/// A helper program (a stand-in tracker, a relay) run from the trackers venv, its output
/// lines collected as they come.
public final class StandInProcess: @unchecked Sendable {
    public let process = Process()
    private let lines = LineCollector()
    public let errorPath: String

    /// Starts `script` (a path under the package root) with `arguments`; stderr goes to `errorPath`.
    public init(script: String, arguments: [String], errorPath: String) throws {
        self.errorPath = errorPath
        process.executableURL = URL(fileURLWithPath: trackersPython)
        process.arguments = ["-u", packageRoot + "/" + script] + arguments
        let out = Pipe()
        process.standardOutput = out
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errorPath)!
        let collector = lines
        out.fileHandleForReading.readabilityHandler = { handle in collector.append(handle.availableData) }
        try process.run()
    }

    /// The first output line starting with `prefix` (its remainder), waiting up to `timeout` seconds.
    public func line(startingWith prefix: String, after skipped: Int = 0, timeout: Double = 20) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let matching = lines.all.filter { $0.hasPrefix(prefix) }
            if matching.count > skipped { return String(matching[skipped].dropFirst(prefix.count)) }
            usleep(20_000)
        }
        return nil
    }

    /// Waits for exit up to `timeout` seconds; the status, or nil (then the process is killed).
    public func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard !process.isRunning else { kill(process.processIdentifier, SIGKILL); return nil }
        return process.terminationStatus
    }

    /// What it wrote on stderr.
    public var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Output lines gathered from a pipe's reader thread.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = Data()
    private var complete: [String] = []

    func append(_ data: Data) {
        lock.lock(); defer { lock.unlock() }
        buffer.append(data)
        while let newline = buffer.firstIndex(of: 0x0A) {
            complete.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...newline)
        }
    }

    var all: [String] { lock.lock(); defer { lock.unlock() }; return complete }
}
