#if canImport(Glibc)
import Glibc
#endif

/// One open recording file, appended in whole lines only: the file's length after the last
/// complete write (`committed`) is known, and a write that fails midway (a full disk, an I/O
/// error) is undone by truncating back to it. Opening a file that ends in a cut-short line
/// (the daemon was killed mid-write, or a truncation failed) drops that line first. So the
/// file is always header, then whole sample lines (`RecordingLayout`), each ending in the
/// newline it was written with; a reader rejects a last line without its newline.
///
/// Dropping the cut line rather than marking it keeps the file plain CSV for every reader
/// (pandas, spreadsheets); the samples of a failed write are counted as failed either way.
struct RecordingFile {
    /// The descriptor (O_APPEND), owned.
    let descriptor: Int32
    /// The UTC day the file is for.
    let date: String
    /// Its lines' layout (its header says it).
    let layout: RecordingLayout
    /// Bytes known to be whole lines in the file.
    private(set) var committed: Int
    /// The writer's clock at the last use, for closing the least recently used file.
    var lastUse: UInt64 = 0

    /// How far back from the end a cut line is searched for its start (a line is < 100 bytes).
    static let recoveryWindow = 1 << 16

    /// Opens (creating) `path` for appending: a regular file only (a FIFO or a device under a
    /// recording's name is refused without blocking), a header written into an empty file
    /// (`preferred`'s; an existing file keeps the layout its header says, with or without
    /// confidence), a cut-short last line dropped. An existing file of the other eye layout (a
    /// stream made binocular, or monocular again, since the file was begun) is moved aside
    /// first to `<date>.monocular.csv` or `<date>.binocular.csv` (`-2`, `-3`, … when taken),
    /// so no line is lost or mixed into the wrong layout; the refit lists it as ignored.
    /// - Throws: a message naming the path and the system's reason.
    init(path: String, date: String, layout preferred: RecordingLayout) throws(GazeFileError) {
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
        if info.st_size > 0, let existing = RecordingLayout(header: Self.header(of: descriptor)), existing.binocular != preferred.binocular {
            Glibc.close(descriptor)
            try Self.moveAside(path, layout: existing)
            self = try RecordingFile(path: path, date: date, layout: preferred)
            return
        }
        self.descriptor = descriptor
        self.date = date
        committed = Int(info.st_size)
        layout = committed > 0 ? RecordingLayout(header: Self.header(of: descriptor)) ?? .monocular : preferred
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
            var bytes = Array((layout.header + "\n").utf8)
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

    /// The file's first line (at most 128 bytes, without its newline), or "" when unreadable.
    static func header(of descriptor: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 128)
        let count = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, 128, 0) }
        guard count > 0 else { return "" }
        let line = bytes[..<count].prefix { $0 != 0x0A }
        return String(decoding: line, as: UTF8.self)
    }

    /// Renames `path` (`<date>.csv`) to `<date>.<monocular|binocular>.csv`, or with `-2`, `-3`, …
    /// when that name is taken.
    static func moveAside(_ path: String, layout: RecordingLayout) throws(GazeFileError) {
        let stem = String(path.dropLast(4)) + (layout.binocular ? ".binocular" : ".monocular")
        for attempt in 1...1000 {
            let target = stem + (attempt == 1 ? "" : "-\(attempt)") + ".csv"
            if access(target, F_OK) == 0 { continue }
            guard rename(path, target) == 0 else { throw GazeFileError(path: path, "cannot move aside a recording of the other eye layout: \(systemErrorText())") }
            return
        }
        throw GazeFileError(path: path, "cannot move aside a recording of the other eye layout: 1000 names taken")
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

/// The columns of a recording's lines, named by its header: monocular `t,x,y` or binocular
/// `t,lx,ly,rx,ry`, each optionally with confidence (`confidence`; binocular
/// `left_confidence,right_confidence`). A stream whose loss rule reads confidence, or whose
/// source sends it (Pupil), records it.
public struct RecordingLayout: Sendable, Equatable {
    /// Whether the lines carry both eyes.
    public var binocular: Bool
    /// Whether the lines carry confidence (per eye when binocular).
    public var withConfidence: Bool

    public init(binocular: Bool, withConfidence: Bool) {
        self.binocular = binocular
        self.withConfidence = withConfidence
    }

    /// `t,x,y` without confidence.
    public static let monocular = RecordingLayout(binocular: false, withConfidence: false)

    /// The column names, in order.
    public var columns: [String] {
        ["t"] + (binocular ? BinocularGaze.columns : ["x", "y"])
            + (withConfidence ? (binocular ? BinocularGaze.confidenceColumns : ["confidence"]) : [])
    }

    /// The header line (without its newline).
    public var header: String { columns.joined(separator: ",") }

    /// The coordinates per line (2 or 4).
    public var coordinates: Int { binocular ? 4 : 2 }

    /// The layout a header line names (spaces and a CR tolerated), or nil when it names none.
    public init?(header: String) {
        let text = header.filter { $0 != " " && $0 != "\r" }
        for binocular in [false, true] {
            for withConfidence in [false, true] where RecordingLayout(binocular: binocular, withConfidence: withConfidence).header == text {
                self.init(binocular: binocular, withConfidence: withConfidence)
                return
            }
        }
        return nil
    }
}
