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
        let temporary = try stage(Array(bytes), for: path)
        try commit(temporary, to: path)
    }

    /// Replaces (or creates) `path` with the UTF-8 of `text`.
    public static func write(text: String, to path: String) throws(GazeFileError) {
        try write(text.utf8, to: path)
    }

    /// Replaces several files together: every one is written and synced beside its target
    /// before any is renamed into place, so a file that cannot be written (no space, no
    /// permission, no directory) leaves every target as it was. Only a rename failing after
    /// an earlier one succeeded (rare: the directory was writable a moment before) can leave
    /// some replaced and not others.
    public static func write(texts: [(path: String, text: String)]) throws(GazeFileError) {
        var staged: [(temporary: String, path: String)] = []
        do {
            for (path, text) in texts { staged.append((try stage(Array(text.utf8), for: path), path)) }
        } catch {
            for file in staged { unlink(file.temporary) }
            throw error
        }
        for (index, file) in staged.enumerated() {
            do { try commit(file.temporary, to: file.path) } catch {
                for later in staged[(index + 1)...] { unlink(later.temporary) }
                throw error
            }
        }
    }

    /// The first half of a write: `bytes` written and synced to a temporary file beside
    /// `path` (`.<name>.tmp-<pid>-<random>`), not yet in place; returns its path. `commit`
    /// is the second half. For callers that act between the two (the refit's test hook).
    public static func stage(_ bytes: some Collection<UInt8>, for path: String) throws(GazeFileError) -> String {
        try stage(Array(bytes), for: path)
    }

    /// Whether `name` is exactly the temporary name `stage` gives a file named `target`:
    /// `.<target>.tmp-<digits>-<digits>` (so leftovers of a killed writer can be found).
    public static func isTemporaryName(_ name: String, for target: String) -> Bool {
        let prefix = ".\(target).tmp-"
        guard name.hasPrefix(prefix) else { return false }
        let parts = name.dropFirst(prefix.count).split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
    }

    static func stage(_ data: [UInt8], for path: String) throws(GazeFileError) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = (directory.isEmpty ? "" : directory + "/") + ".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            // Named by the user's path and its directory, never by the temporary name.
            let code = errno, folder = directory.isEmpty ? "." : directory
            if code == ENOENT { throw GazeFileError(path: path, "cannot write: the directory \(folder) does not exist") }
            throw GazeFileError(path: path, "cannot write a file in \(folder): \(systemErrorText(code))")
        }
        var failure: String?
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = "cannot write: \(systemErrorText())"
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = "cannot fsync: \(systemErrorText())" }
        close(descriptor)
        if let failure {
            unlink(temporary)
            throw GazeFileError(path: path, failure)
        }
        return temporary
    }

    /// The second half of a write: renames a staged file over `path` and syncs the directory.
    public static func commit(_ temporary: String, to path: String) throws(GazeFileError) {
        guard rename(temporary, path) == 0 else {
            let reason = systemErrorText()
            unlink(temporary)
            throw GazeFileError(path: path, "cannot rename the temporary file into place: \(reason)")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryDescriptor = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

}
