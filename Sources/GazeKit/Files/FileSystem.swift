#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// File-system steps whose failures read as the system's reason (`Permission denied`, `Not a
/// directory`), where Foundation on Linux says only "The operation could not be completed".
public enum FileSystem {
    /// Creates `path` and its missing parents (mode 0777 less the umask), naming the system's
    /// reason on failure (`Not a directory`, `Permission denied`) rather than Foundation's.
    public static func createDirectory(_ path: String) throws(GazeFileError) {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw GazeFileError(path: path, "exists and is not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try createDirectory(parent) }
        guard mkdir(path, 0o777) == 0 || errno == EEXIST else { throw GazeFileError(path: path, "cannot create the directory: \(systemErrorText())") }
    }

    /// An error as one readable line: our own errors as they describe themselves, Foundation's
    /// by their localized description and the system's reason (never the `Error Domain=…` dump).
    public static func describe(_ error: any Error) -> String {
        let bridged = error as NSError
        guard bridged.domain == NSCocoaErrorDomain || bridged.domain == NSPOSIXErrorDomain else { return "\(error)" }
        if bridged.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(bridged.code))) }
        if let underlying = bridged.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return "\(bridged.localizedDescription) (\(String(cString: strerror(Int32(underlying.code)))))"
        }
        return bridged.localizedDescription
    }
}
