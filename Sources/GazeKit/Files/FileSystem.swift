#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// File-system steps whose failures read as the system's reason (`Permission denied`, `Not a
/// directory`), where Foundation on Linux says only "The operation could not be completed".
public enum FileSystem {
    /// Creates `path` and its missing parents (mode 0777 less the umask), naming the system's
    /// reason on failure (`Not a directory`, `Permission denied`) rather than Foundation's.
    /// Any path works: relative (`p`, `./p`, `a/b`, `../x`) or absolute, with or without a
    /// trailing slash, existing or not.
    public static func createDirectory(_ path: String) throws(GazeFileError) {
        guard !path.isEmpty else { throw GazeFileError(path: path, "cannot create a directory with an empty name") }
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw GazeFileError(path: path, "exists and is not a directory") }
            return
        }
        if let parent = parent(of: path) { try createDirectory(parent) }
        guard mkdir(path, 0o777) == 0 || errno == EEXIST else { throw GazeFileError(path: path, "cannot create the directory: \(systemErrorText())") }
    }

    /// The directory holding `path` as written (`a/b/` → `a`, `/x` → `/`), or nil when the
    /// path names no parent of its own (`p`: the working directory; `/`).
    static func parent(of path: String) -> String? {
        var bytes = Array(path.utf8)
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes.removeLast() }  // "a/b/" is "a/b"
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        var end = slash
        while end > 0, bytes[end - 1] == UInt8(ascii: "/") { end -= 1 }  // "a//b": the parent is "a"
        if end == 0 { return bytes.count == 1 ? nil : "/" }
        return String(decoding: bytes[..<end], as: UTF8.self)
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
