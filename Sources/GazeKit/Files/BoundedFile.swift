#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Reads whole input files with a bound on the bytes taken and without ever blocking on what
/// is not a file: every file the tools read (parameters, configs, observation CSV) comes
/// through here, so a FIFO with no writer, `/dev/zero`, a socket or a huge or sparse file
/// gives one line naming the path and the problem instead of a hang or an unbounded read.
///
/// The file is opened with `O_NONBLOCK` (opening a FIFO never waits for a writer), checked
/// with `fstat` (kind, and size against `limit` before anything is read), then read in
/// blocking mode up to `limit` bytes; one byte more is an error. A FIFO, where allowed, is
/// read to its end (a FIFO with no writer reads as empty).
public enum BoundedFile {
    /// Which kinds of file a reader accepts.
    public enum Kinds: Sendable {
        /// Regular files only (parameter and config files, recordings).
        case regular
        /// Regular files and pipes (`gazefit --input`, which may be fed through a pipe).
        case regularOrPipe
    }

    /// The whole file's bytes.
    /// - Parameters:
    ///   - limit: most bytes accepted; a larger file is refused before reading (or, for a pipe
    ///     or a file that grows, as soon as it passes the limit).
    ///   - what: what the file is, for the size message ("parameter file").
    /// - Throws: `GazeFileError` naming the path: missing, not a regular file (or pipe), too
    ///   large, unreadable.
    public static func read(_ path: String, limit: Int, kinds: Kinds = .regular, what: String = "file") throws(GazeFileError) -> [UInt8] {
        let descriptor = try open(path, kinds: kinds)
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw GazeFileError(path: path, "cannot examine: \(systemErrorText())") }
        if info.st_mode & S_IFMT == S_IFREG && Int(info.st_size) > limit {
            throw tooLarge(path, limit: limit, what: what, size: Int(info.st_size))
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity(info.st_mode & S_IFMT == S_IFREG ? Int(info.st_size) + 1 : 1 << 16)
        let chunk = 1 << 16
        var scratch = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = scratch.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, chunk) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { waitReadable(descriptor); continue }
                throw GazeFileError(path: path, "cannot read: \(systemErrorText())")
            }
            if count == 0 { return bytes }
            guard bytes.count + count <= limit else { throw tooLarge(path, limit: limit, what: what, size: nil) }
            bytes.append(contentsOf: scratch[0..<count])
        }
    }

    /// Opens `path` for reading without blocking and checks its kind.
    /// - Returns: a descriptor the caller closes, in non-blocking mode for a FIFO (reads that
    ///   would wait return EAGAIN; `read` above waits with `poll`), blocking otherwise.
    public static func open(_ path: String, kinds: Kinds) throws(GazeFileError) -> Int32 {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard descriptor >= 0 else {
            let reason = errno == ENOENT ? "no such file" : "cannot open: \(systemErrorText())"
            throw GazeFileError(path: path, reason)
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = systemErrorText()
            close(descriptor)
            throw GazeFileError(path: path, "cannot examine: \(reason)")
        }
        let kind = info.st_mode & S_IFMT
        let accepted = kind == S_IFREG || (kinds == .regularOrPipe && kind == S_IFIFO)
        guard accepted else {
            close(descriptor)
            let expected = kinds == .regular ? "a regular file" : "a regular file or a pipe"
            throw GazeFileError(path: path, "is \(describe(kind)), not \(expected)")
        }
        if kind == S_IFREG {  // regular files never block; reads are simpler in blocking mode
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        }
        return descriptor
    }

    /// Waits until a pipe has data or its writer is gone.
    private static func waitReadable(_ descriptor: Int32) {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, -1)
    }

    /// A file kind in words, for messages.
    static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }

    private static func tooLarge(_ path: String, limit: Int, what: String, size: Int?) -> GazeFileError {
        let actual = size.map { " (\(byteText($0)))" } ?? ""
        return GazeFileError(path: path, "larger than the \(what) limit of \(byteText(limit))\(actual)")
    }

    /// A byte count as people read it: `4 MiB`, `2.0 GiB`, `812 bytes`.
    public static func byteText(_ bytes: Int) -> String {
        let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
        for (size, name) in units where bytes >= size {
            return bytes % size == 0 ? "\(bytes / size) \(name)" : "\((Double(bytes) / Double(size) * 10).rounded() / 10) \(name)"
        }
        return "\(bytes) bytes"
    }
}

/// Reads a whole regular file of at most `limit` bytes, naming the path on failure (see `BoundedFile`).
public func readFile(_ path: String, limit: Int, what: String = "file") throws(GazeFileError) -> Data {
    Data(try BoundedFile.read(path, limit: limit, kinds: .regular, what: what))
}
