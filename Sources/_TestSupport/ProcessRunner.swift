import Foundation

/// The directory holding the package's built executables (beside the running test binary).
public let buildDirectory: String = {
    let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
    // Inside an .xctest bundle directory on some layouts: step out of it.
    while url.path.contains(".xctest") { url.deleteLastPathComponent() }
    return url.path
}()

/// The path of one of the package's executables, e.g. `gazefit`.
public func executablePath(_ name: String) -> String { buildDirectory + "/" + name }

/// What a finished process produced.
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let standardOutput: String
    public let standardError: String
}

/// Runs a package executable to completion and collects its output; `directory` is its
/// working directory (default: the test's).
public func runTool(_ name: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executablePath(name))
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    // The tools' default state directory (recordings, reports, pid file) in a temporary one, never the user's.
    let defaults = ["XDG_STATE_HOME": NSTemporaryDirectory() + "gazefilter-test-state-\(getpid())"]
    process.environment = ProcessInfo.processInfo.environment.filter { $0.key != "STATE_DIRECTORY" }
        .merging(defaults.merging(environment ?? [:]) { $1 }) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus,
                         standardOutput: String(decoding: outData, as: UTF8.self),
                         standardError: String(decoding: errData, as: UTF8.self))
}

/// A fresh temporary directory, removed by the caller (or left for inspection on failure).
public func makeTemporaryDirectory(_ prefix: String = "gazefilter-test") -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
