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

/// A loopback TCP port free at the moment of asking (the kernel's choice), for tests that
/// need a tcp:// endpoint known before the process binds it.
public func freeLoopbackPort() -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length); return getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
