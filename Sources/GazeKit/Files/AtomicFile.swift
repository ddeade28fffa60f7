#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Writes files so that readers see the old content or the new, never a torn mix:
/// a temporary file in the same directory, fsync, rename over the target, fsync the directory.
public enum AtomicFile {
    /// Replaces (or creates) `path` with `bytes`.
    /// - Throws: `GazeFileError` naming the path and the system's reason.
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(GazeFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw GazeFileError(path: path, "cannot create \(temporary): \(systemError())") }
        var failure: String?
        let data = Array(bytes)
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write: \(systemError())"
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = "cannot fsync: \(systemError())" }
        close(descriptor)
        if let failure {
            unlink(temporary)
            throw GazeFileError(path: path, failure)
        }
        guard rename(temporary, path) == 0 else {
            let reason = systemError()
            unlink(temporary)
            throw GazeFileError(path: path, "cannot rename the temporary file into place: \(reason)")
        }
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    /// Replaces (or creates) `path` with the UTF-8 of `text`.
    public static func write(text: String, to path: String) throws(GazeFileError) {
        try write(text.utf8, to: path)
    }

    static func systemError() -> String { String(cString: strerror(errno)) }
}

/// Reads a whole file, naming the path on failure.
public func readFile(_ path: String) throws(GazeFileError) -> Data {
    guard FileManager.default.fileExists(atPath: path) else { throw GazeFileError(path: path, "no such file") }
    do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
        throw GazeFileError(path: path, "cannot read: \(error.localizedDescription)")
    }
}
