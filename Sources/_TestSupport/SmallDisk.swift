#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A real, tiny file system (tmpfs of a few pages) mounted for one test, so a test can fill a
/// disk for real: `fill()` leaves about `free` bytes, `makeRoom()` frees them again.
/// Needs root (CI runs as root); `SmallDisk.available` says whether mounting works here.
public final class SmallDisk {
    public let path: String
    private let filler: String

    /// Whether this process may mount (root, in a namespace that allows it).
    public static let available: Bool = {
        guard getuid() == 0 else { return false }
        let probe = makeTemporaryDirectory("mount-probe")
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard (try? runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=16k", "tmpfs", probe]))?.status == 0 else { return false }
        _ = try? runCommand("/bin/umount", [probe])
        return true
    }()

    /// Mounts a tmpfs of `kilobytes` KiB at a fresh directory.
    public init(kilobytes: Int) throws {
        path = makeTemporaryDirectory("smalldisk")
        filler = path + "/.filler"
        let result = try runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=0755", "tmpfs", path])
        guard result.status == 0 else { throw SmallDiskError(message: "mount failed: \(result.standardError)") }
    }

    /// Fills the disk with a filler file until writing fails (no space left at all).
    public func fill() {
        let descriptor = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let block = [UInt8](repeating: 0x2E, count: 512)
        while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
    }

    /// Frees the space the filler took.
    public func makeRoom() { unlink(filler) }

    deinit {
        _ = try? runCommand("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }

    public struct SmallDiskError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}

/// Runs a system command (not one of the package's) to completion.
public func runCommand(_ path: String, _ arguments: [String]) throws -> ProcessOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return ProcessOutput(status: process.terminationStatus, standardOutput: "", standardError: String(decoding: errData, as: UTF8.self))
}
