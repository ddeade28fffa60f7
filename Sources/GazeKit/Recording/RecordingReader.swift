#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinearDynamics

/// One stream's recordings read back for a refit: the daemon's `<stream>/<YYYY-MM-DD>.csv`
/// files (header `t,x,y`) split into sequences at file boundaries, at gaps and at tracker
/// clock restarts, with every line that could not be used counted.
public struct RecordingScan: Sendable {
    /// A run of samples with no gap longer than the split threshold, inside one file.
    public struct Segment: Sendable {
        /// The file it came from.
        public var file: String
        /// Each sample's time.
        public var times: [Double]
        /// The samples as observations (x, y); lost ones masked.
        public var observations: ObservationSequence

        /// Samples `range` of this segment.
        public func slice(_ range: Range<Int>) -> Segment {
            Segment(file: file, times: Array(times[range]), observations: observations.slice(range))
        }
    }

    /// The files read, oldest first.
    public var files: [String] = []
    /// The sequences, oldest first (file order, then line order).
    public var segments: [Segment] = []
    /// Lines that were not three finite numbers (each skipped).
    public var corruptLines = 0
    /// The first few corrupt lines as `path:line: problem`.
    public var corruptExamples: [String] = []
    /// A last line without its newline (a file still being written), ignored.
    public var incompleteLines = 0
    /// Samples older than the one before them by at most the split gap: stale samples the
    /// daemon dropped too, skipped.
    public var outOfOrder = 0
    /// Backward jumps in `t` larger than the split gap: the tracker's clock restarted, so a
    /// new sequence starts there.
    public var clockRestarts = 0
    /// Samples of the oldest file read that were left out to respect the sample limit.
    public var trimmed = 0
    /// Files of the window not read at all because newer files already gave the sample limit, oldest first.
    public var filesNotRead: [String] = []
    /// Entries of the directory that are not recordings (`YYYY-MM-DD.csv`), or dated after today; not read.
    public var ignoredFiles: [String] = []
    /// Recordings that could not be read, as `path: reason` (each counted, the rest still used).
    public var unreadableFiles: [String] = []

    /// Samples kept, over all segments.
    public var sampleCount: Int { segments.reduce(0) { $0 + $1.observations.count } }
}

/// Reads a stream's recordings back for `gazefit refit`, newest file first so that the sample
/// limit also bounds the memory used, and returns them in time order.
public enum RecordingReader {
    /// How many corrupt lines are quoted in `RecordingScan.corruptExamples`.
    public static let exampleLimit = 5
    /// Bytes read from a file at a time; a line longer than this is corrupt.
    static let chunkSize = 1 << 20

    /// Reads the recordings `directory/YYYY-MM-DD.csv` (one stream's) whose dates lie in `since...through`.
    /// - Parameters:
    ///   - since: the first UTC date read (`YYYY-MM-DD`); nil reads all.
    ///   - through: the last UTC date read; later-dated files are ignored (default today, UTC).
    ///   - maximumSamples: keep at most this many, the most recent: files are read newest first and
    ///     older ones are left unread once the limit is reached, so memory stays bounded by it.
    ///   - splitGap: a gap in `t` longer than this (seconds) starts a new sequence; so does a
    ///     backward jump longer than this (a clock restart), while a smaller backward step is a
    ///     stale sample and is dropped.
    ///   - masking: which samples are lost (negative coordinates by default).
    /// - Throws: `GazeFileError` when the directory cannot be listed.
    public static func read(directory: String, since: String? = nil, through: String? = UTCCalendar.day(),
                            maximumSamples: Int = .max, splitGap: Double,
                            masking: MaskingPolicy = MaskingPolicy()) throws(GazeFileError) -> RecordingScan {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw GazeFileError(path: directory, "cannot list recordings: \(listingFailure(directory, error))")
        }
        var scan = RecordingScan()
        var dated: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            guard isRecordingName(name) else {
                scan.ignoredFiles.append(name)
                continue
            }
            let date = String(name.dropLast(4))
            if let through, date > through {
                scan.ignoredFiles.append(name)
                continue
            }
            if let since, date < since { continue }
            dated.append(name)
        }
        // Newest first, so the limit is met without reading what would be trimmed.
        var newestFirst: [(file: String, segments: [RecordingScan.Segment])] = []
        var collected = 0
        for (index, name) in dated.enumerated().reversed() {
            let remaining = max(0, maximumSamples - collected)
            if remaining == 0 {
                scan.filesNotRead = dated[...index].map { directory + "/" + $0 }
                break
            }
            let path = directory + "/" + name
            var ring = SampleRing(capacity: remaining)
            guard readFile(path, splitGap: splitGap, into: &ring, scan: &scan) else { continue }
            scan.trimmed += ring.dropped
            let segments = ring.segments(file: path, masking: masking)
            collected += segments.reduce(0) { $0 + $1.observations.count }
            newestFirst.append((path, segments))
        }
        for (file, segments) in newestFirst.reversed() {
            scan.files.append(file)
            scan.segments += segments
        }
        return scan
    }

    /// Whether `name` is `YYYY-MM-DD.csv` with a plausible month and day.
    public static func isRecordingName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 14, name.hasSuffix(".csv"), bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }) else { return false }
        func number(_ range: [Int]) -> Int { range.reduce(0) { $0 * 10 + Int(bytes[$1] - UInt8(ascii: "0")) } }
        return (1...12).contains(number([5, 6])) && (1...31).contains(number([8, 9]))
    }

    /// Reads one file in chunks, line by line, into `ring`. Returns false (and records why)
    /// when the file cannot be opened or read.
    static func readFile(_ path: String, splitGap: Double, into ring: inout SampleRing, scan: inout RecordingScan) -> Bool {
        // Regular files only: a FIFO or a device under a recording's name is refused at once
        // (opened without blocking), never read or waited on.
        let descriptor: Int32
        do { descriptor = try BoundedFile.open(path, kinds: .regular) } catch {
            scan.unreadableFiles.append(error.description)
            return false
        }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var filled = 0, lineNumber = 0
        var skippingLongLine = false
        var lastTime = -Double.infinity
        var sawData = false
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in Glibc.read(descriptor, raw.baseAddress! + filled, raw.count - filled) }
            if count < 0 {
                if errno == EINTR { continue }
                scan.unreadableFiles.append("\(path): \(systemErrorText()) after line \(lineNumber)")
                return sawData
            }
            if count == 0 {
                if filled > 0 || skippingLongLine { scan.incompleteLines += 1 }  // still being appended
                return true
            }
            sawData = true
            filled += count
            var start = 0
            buffer.withUnsafeBytes { raw in
                while start < filled, let found = memchr(raw.baseAddress! + start, 0x0A, filled - start) {
                    let end = raw.baseAddress!.distance(to: UnsafeRawPointer(found))
                    lineNumber += 1
                    if skippingLongLine {
                        skippingLongLine = false
                        noteCorrupt(path, lineNumber, "is longer than \(chunkSize) bytes", &scan)
                    } else {
                        let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                        take(line, lineNumber: lineNumber, path: path, splitGap: splitGap, lastTime: &lastTime, ring: &ring, scan: &scan)
                    }
                    start = end + 1
                }
            }
            if start == 0 && filled == buffer.count {
                skippingLongLine = true  // no newline in a whole chunk: drop it up to the next newline
                filled = 0
            } else if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    _ = memmove(raw.baseAddress!, raw.baseAddress! + start, filled - start)
                }
                filled -= start
            }
        }
    }

    /// One complete line: the header, a sample, or a corrupt line.
    static func take(_ line: UnsafeRawBufferPointer, lineNumber: Int, path: String, splitGap: Double, lastTime: inout Double,
                     ring: inout SampleRing, scan: inout RecordingScan) {
        if lineNumber == 1 && line.starts(with: Array("t,".utf8)) { return }
        guard let (t, x, y) = parseLine(line) else {
            noteCorrupt(path, lineNumber, problem(in: line), &scan)
            return
        }
        var startsSequence = t - lastTime > splitGap
        if t < lastTime {
            guard lastTime - t > splitGap else {
                scan.outOfOrder += 1  // a stale sample
                return
            }
            scan.clockRestarts += 1
            startsSequence = true
        }
        lastTime = t
        ring.push(t: t, x: x, y: y, startsSequence: startsSequence)
    }

    static func noteCorrupt(_ path: String, _ lineNumber: Int, _ problem: String, _ scan: inout RecordingScan) {
        scan.corruptLines += 1
        if scan.corruptExamples.count < exampleLimit { scan.corruptExamples.append("\(path):\(lineNumber): \(problem)") }
    }

    /// Three finite decimal numbers separated by commas (spaces and a CR tolerated).
    static func parseLine(_ line: UnsafeRawBufferPointer) -> (Double, Double, Double)? {
        var values = (0.0, 0.0, 0.0)
        var field = 0, fieldStart = 0
        var index = 0
        while index <= line.count {
            if index == line.count || line[index] == UInt8(ascii: ",") {
                guard field < 3, let value = parseNumber(UnsafeRawBufferPointer(rebasing: line[fieldStart..<index])) else { return nil }
                switch field {
                case 0: values.0 = value
                case 1: values.1 = value
                default: values.2 = value
                }
                field += 1
                fieldStart = index + 1
            }
            index += 1
        }
        return field == 3 ? values : nil
    }

    /// Why `parseLine` refused a line, in words: `has 2 fields, expected 3`, `x is not a finite number: "abc"`.
    static func problem(in line: UnsafeRawBufferPointer) -> String {
        let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        guard fields.count == 3 else { return "has \(fields.count) field\(fields.count == 1 ? "" : "s"), expected 3 (t,x,y)" }
        for (name, field) in zip(["t", "x", "y"], fields) where parseNumber(UnsafeRawBufferPointer(rebasing: field)) == nil {
            return "\(name) is not a finite number: \(EscapedText.quoted(field, limit: 24))"
        }
        return "cannot be parsed"
    }

    /// A finite number in decimal notation, via strtod on a NUL-terminated stack copy.
    static func parseNumber(_ bytes: UnsafeRawBufferPointer) -> Double? {
        var lower = 0, upper = bytes.count
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 || bytes[upper - 1] == 0x0D { upper -= 1 }
        let length = upper - lower
        guard length > 0, length < 64 else { return nil }
        for i in lower..<upper {
            switch bytes[i] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"):
                continue
            default:
                return nil
            }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { buffer -> Double? in
            for i in 0..<length { buffer[i] = CChar(bitPattern: bytes[lower + i]) }
            buffer[length] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(buffer.baseAddress!, &end)
            guard let end, end == buffer.baseAddress! + length, value.isFinite else { return nil }
            return value
        }
    }

    /// Why `path` could not be listed, in the system's words (`No such file or directory`):
    /// Foundation's own message on Linux is often only "The operation could not be completed".
    public static func listingFailure(_ path: String, _ error: any Error) -> String {
        guard let stream = opendir(path) else { return systemErrorText() }
        closedir(stream)
        return error.localizedDescription
    }
}

/// The most recent `capacity` accepted samples of one file (older ones overwritten), each
/// with whether it starts a new sequence; grows only as samples arrive.
struct SampleRing {
    let capacity: Int
    private var t: [Double] = [], x: [Double] = [], y: [Double] = []
    private var starts: [Bool] = []
    /// Where the oldest sample sits once the ring is full.
    private var head = 0
    /// Samples pushed out by newer ones.
    private(set) var dropped = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func push(t time: Double, x xValue: Double, y yValue: Double, startsSequence: Bool) {
        if t.count < capacity {
            t.append(time); x.append(xValue); y.append(yValue); starts.append(startsSequence)
        } else {
            t[head] = time; x[head] = xValue; y[head] = yValue; starts[head] = startsSequence
            head = (head + 1) % capacity
            dropped += 1
        }
    }

    /// The kept samples, oldest first, cut into sequences (the first kept sample starts one).
    func segments(file: String, masking: MaskingPolicy) -> [RecordingScan.Segment] {
        var segments: [RecordingScan.Segment] = []
        var current: RecordingScan.Segment?
        for k in 0..<t.count {
            let i = (head + k) % t.count
            if k == 0 || starts[i] {
                if let current { segments.append(current) }
                current = RecordingScan.Segment(file: file, times: [], observations: ObservationSequence(dimension: 2))
            }
            current!.times.append(t[i])
            if masking.isMasked(x[i]) || masking.isMasked(y[i]) { current!.observations.appendMasked() } else { current!.observations.append([x[i], y[i]]) }
        }
        if let current { segments.append(current) }
        return segments
    }
}
