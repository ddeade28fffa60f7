#if canImport(Glibc)
import Glibc
#endif

/// One open recording file, appended in whole lines only: the file's length after the last
/// complete write (`committed`) is known, and a write that fails midway (a full disk, an I/O
/// error) is undone by truncating back to it. Opening a file that ends in a cut-short line
/// (the daemon was killed mid-write, or a truncation failed) drops that line first. So the
/// file is always header, then whole `t,x,y` lines, each ending in the newline it was written
/// with; a reader rejects a last line without its newline.
///
/// Dropping the cut line rather than marking it keeps the file plain CSV for every reader
/// (pandas, spreadsheets); the samples of a failed write are counted as failed either way.
struct RecordingFile {
    /// The descriptor (O_APPEND), owned.
    let descriptor: Int32
    /// The UTC day the file is for.
    let date: String
    /// Whether its lines have a confidence column (its header says so).
    let withConfidence: Bool
    /// Bytes known to be whole lines in the file.
    private(set) var committed: Int
    /// The writer's clock at the last use, for closing the least recently used file.
    var lastUse: UInt64 = 0

    /// How far back from the end a cut line is searched for its start (a line is < 100 bytes).
    static let recoveryWindow = 1 << 16

    static let header = "t,x,y\n", headerWithConfidence = "t,x,y,confidence\n"

    /// Opens (creating) `path` for appending: a regular file only (a FIFO or a device under a
    /// recording's name is refused without blocking), a header written into an empty file
    /// (with a confidence column when `withConfidence`; an existing file keeps the layout its
    /// header says), a cut-short last line dropped.
    /// - Throws: a message naming the path and the system's reason.
    init(path: String, date: String, withConfidence preferred: Bool) throws(GazeFileError) {
        // Read and write: the recovery reads the file's tail.
        let descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0o640)
        guard descriptor >= 0 else {
            var info = stat()
            if errno == ENXIO, stat(path, &info) == 0 {  // a FIFO with no reader
                throw GazeFileError(path: path, "is \(BoundedFile.describe(info.st_mode & S_IFMT)), not a regular file")
            }
            throw GazeFileError(path: path, "cannot open: \(systemErrorText())")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            let kind = info.st_mode & S_IFMT
            Glibc.close(descriptor)
            throw GazeFileError(path: path, "is \(BoundedFile.describe(kind)), not a regular file")
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) & ~O_NONBLOCK)
        self.descriptor = descriptor
        self.date = date
        committed = Int(info.st_size)
        withConfidence = committed > 0 ? Self.hasConfidenceHeader(descriptor) : preferred
        if committed > 0 {
            let whole = Self.endOfLastLine(descriptor, size: committed)
            if whole < committed {
                guard ftruncate(descriptor, off_t(whole)) == 0 else {
                    let reason = systemErrorText()
                    Glibc.close(descriptor)
                    throw GazeFileError(path: path, "cannot drop a cut-short last line: \(reason)")
                }
                committed = whole
            }
        }
        if committed == 0 {
            var bytes = Array((withConfidence ? Self.headerWithConfidence : Self.header).utf8)
            guard append(&bytes[...]) else {
                let reason = systemErrorText()
                Glibc.close(descriptor)
                throw GazeFileError(path: path, "cannot write the header: \(reason)")
            }
        }
    }

    /// Writes `bytes` (whole lines) at the end; on failure truncates back to the last whole
    /// line and returns false with `errno` describing the failure.
    mutating func append(_ bytes: inout ArraySlice<UInt8>) -> Bool {
        var done = 0
        let total = bytes.count
        let failure: Int32? = bytes.withUnsafeBytes { raw in
            while done < total {
                let count = write(descriptor, raw.baseAddress! + done, total - done)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if count == 0 { return EIO }
                done += count
            }
            return nil
        }
        guard let failure else {
            committed += total
            return true
        }
        if done > 0 { _ = ftruncate(descriptor, off_t(committed)) }  // if this fails too, the next open drops the cut line
        errno = failure
        return false
    }

    /// Whether the file begins with the header of the confidence layout.
    static func hasConfidenceHeader(_ descriptor: Int32) -> Bool {
        let expected = Array(headerWithConfidence.utf8)
        var bytes = [UInt8](repeating: 0, count: expected.count)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, expected.count, 0) }
        return count == expected.count && bytes == expected
    }

    /// Closes the descriptor; returns false (with errno) when the close reported an error.
    func close() -> Bool { Glibc.close(descriptor) == 0 }

    /// The length of the file up to and including its last newline (0 when none is found in
    /// the last `recoveryWindow` bytes: then nothing after the header can be trusted either,
    /// and the header, if it was there, is rewritten).
    static func endOfLastLine(_ descriptor: Int32, size: Int) -> Int {
        let window = min(size, recoveryWindow)
        var tail = [UInt8](repeating: 0, count: window)
        let count = tail.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, window, off_t(size - window)) }
        guard count == window else { return size }  // unreadable: leave it as it is
        guard let last = tail.lastIndex(of: UInt8(ascii: "\n")) else { return size > window ? size : 0 }
        return size - window + last + 1
    }
}
