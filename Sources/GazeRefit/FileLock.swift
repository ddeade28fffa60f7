#if canImport(Glibc)
import Glibc
#endif
import GazeKit

/// An exclusive advisory lock on a file (`flock`), held until `unlock()` or release.
/// The kernel drops it if the process dies, so a crashed job never leaves a stale lock.
public final class FileLock {
    private var descriptor: Int32
    /// The lock file's path.
    public let path: String

    /// Takes the lock without waiting. The file is opened read-only (flock needs no write
    /// access), so a lock file another user created (say root, by hand) does not block the service user.
    /// - Returns: nil when another process holds it.
    /// - Throws: `GazeFileError` when the lock file cannot be opened.
    public init?(path: String) throws(GazeFileError) {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw GazeFileError(path: path, "cannot open the lock file: \(systemErrorText())") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
    }

    /// Releases the lock.
    public func unlock() {
        if descriptor >= 0 {
            flock(descriptor, LOCK_UN)
            close(descriptor)
            descriptor = -1
        }
    }

    deinit { unlock() }
}
