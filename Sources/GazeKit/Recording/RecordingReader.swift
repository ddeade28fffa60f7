#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinearDynamics

/// One stream's recordings read back for a refit: the daemon's `<stream>/<YYYY-MM-DD>.csv`
/// files (header `t,x,y`, or `t,x,y,confidence`; binocular `t,lx,ly,rx,ry[,left_confidence,right_confidence]`,
/// `RecordingLayout`) turned into sequences by the stream's model
/// exactly as the daemon filtered them live: split at file boundaries, at silences and clock
/// restarts (`StreamClock`), dropped samples bridged with masked steps at `rate_hz`, lost and
/// implausible samples masked; every line that could not be used counted.
public struct RecordingScan: Sendable {
    /// One sequence: a run of samples inside one file that the daemon filtered without a restart.
    public struct Segment: Sendable {
        /// The file it came from.
        public var file: String
        /// Each step's time (a bridged step's is where its missing sample was due).
        public var times: [Double]
        /// The samples as observations (x, y; binocular lx, ly, rx, ry, a lost eye NaN); lost ones masked.
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
    /// Samples older than the one before them by at most `reset_after_s`: stale samples the
    /// daemon dropped too, skipped.
    public var outOfOrder = 0
    /// Backward jumps in `t` larger than `reset_after_s`: the tracker's clock restarted, so a
    /// new sequence starts there.
    public var clockRestarts = 0
    /// Masked steps inserted for samples missing at the stream's `rate_hz`, as the daemon bridges them.
    public var bridgedSteps = 0
    /// Samples lost by the stream's loss rule (kept as masked steps).
    public var lostSamples = 0
    /// Samples outside the stream's plausible range (kept as masked steps; binocular: with
    /// either eye outside, that eye not used).
    public var implausibleSamples = 0
    /// Binocular streams: samples of which exactly one eye was used (partly observed steps).
    public var oneEyeSamples = 0
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
    ///   - model: the stream's model: its loss rule and plausible range mask samples (per eye for
    ///     a binocular stream, whose sequences have m = 4), and its
    ///     `StreamClock` rule splits sequences, drops stale samples and bridges missing ones.
    ///     A recording of the other eye layout (monocular for a binocular stream, or the
    ///     reverse) is not read, and listed as unreadable with the reason.
    /// - Throws: `GazeFileError` when the directory cannot be listed.
    public static func read(directory: String, since: String? = nil, through: String? = UTCCalendar.day(),
                            maximumSamples: Int = .max, model: StreamModel) throws(GazeFileError) -> RecordingScan {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw GazeFileError(path: directory, "cannot list recordings: \(listingFailure(directory, error))")
        }
        var scan = RecordingScan()
        var dated: [String] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            guard StreamPaths.isRecordingName(name) else {
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
            guard readFile(path, model: model, into: &ring, scan: &scan) else { continue }
            scan.trimmed += ring.dropped
            let segments = ring.segments(file: path, model: model, scan: &scan)
            collected += segments.reduce(0) { $0 + $1.observations.count }
            newestFirst.append((path, segments))
        }
        for (file, segments) in newestFirst.reversed() {
            scan.files.append(file)
            scan.segments += segments
        }
        return scan
    }

    /// Reads one file in chunks, line by line, into `ring`. Returns false (and records why)
    /// when the file cannot be opened or read.
    static func readFile(_ path: String, model: StreamModel, into ring: inout SampleRing, scan: inout RecordingScan) -> Bool {
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
        var lastTime: Double?
        var layout = RecordingLayout.monocular
        var sawData = false
        var wrongLayout = false
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
                        take(line, lineNumber: lineNumber, path: path, model: model, layout: &layout,
                             lastTime: &lastTime, ring: &ring, scan: &scan)
                        if lineNumber == 1 && layout.binocular != model.binocular { wrongLayout = true; break }
                    }
                    start = end + 1
                }
            }
            if wrongLayout {
                scan.unreadableFiles.append("\(path): has the \(layout.binocular ? "binocular" : "monocular") layout (\(layout.header)), "
                                            + "the stream is \(model.binocular ? "binocular" : "monocular"): not read")
                return false
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

    /// One complete line: the header, a sample, or a corrupt line. A sample's time is placed
    /// by `StreamClock`: stale ones are dropped, a restart starts a new sequence, and samples
    /// missing at `rate_hz` become masked steps, as in the daemon.
    static func take(_ line: UnsafeRawBufferPointer, lineNumber: Int, path: String, model: StreamModel, layout: inout RecordingLayout,
                     lastTime: inout Double?, ring: inout SampleRing, scan: inout RecordingScan) {
        if lineNumber == 1 && line.starts(with: Array("t,".utf8)) {
            layout = RecordingLayout(header: String(decoding: line, as: UTF8.self)) ?? .monocular
            return
        }
        guard let sample = parseLine(line, layout: layout) else {
            noteCorrupt(path, lineNumber, problem(in: line, layout: layout), &scan)
            return
        }
        var startsSequence = true
        if let last = lastTime {
            switch StreamClock.advance(from: last, to: sample.t, model: model) {
            case .stale:
                scan.outOfOrder += 1  // a stale sample, dropped as the daemon drops it
                return
            case .restart(let reason):
                if reason == .clockRestart { scan.clockRestarts += 1 }
            case .next(let bridged):
                startsSequence = false
                let period = 1 / (model.rateHz ?? 1)
                for k in 0..<bridged {
                    var bridged = RecordedSample(t: last + Double(k + 1) * period)
                    bridged.isBridged = true
                    ring.push(bridged, startsSequence: false)
                }
                scan.bridgedSteps += bridged
            }
        }
        lastTime = sample.t
        ring.push(sample, startsSequence: startsSequence)
    }

    static func noteCorrupt(_ path: String, _ lineNumber: Int, _ problem: String, _ scan: inout RecordingScan) {
        scan.corruptLines += 1
        if scan.corruptExamples.count < exampleLimit { scan.corruptExamples.append("\(path):\(lineNumber): \(problem)") }
    }

    /// The fields of a line in `layout` (`CSVNumber`): t a finite number, the others finite,
    /// `nan` or empty (a lost value, NaN); spaces and a CR tolerated.
    static func parseLine(_ line: UnsafeRawBufferPointer, layout: RecordingLayout) -> RecordedSample? {
        let fields = layout.columns.count
        var values = (0.0, Double.nan, Double.nan, Double.nan, Double.nan, Double.nan, Double.nan)
        var field = 0, fieldStart = 0
        var index = 0
        while index <= line.count {
            if index == line.count || line[index] == UInt8(ascii: ",") {
                guard field < fields, let value = value(UnsafeRawBufferPointer(rebasing: line[fieldStart..<index]), isTime: field == 0) else { return nil }
                withUnsafeMutableBytes(of: &values) { $0.storeBytes(of: value, toByteOffset: field * 8, as: Double.self) }
                field += 1
                fieldStart = index + 1
            }
            index += 1
        }
        guard field == fields else { return nil }
        var sample = RecordedSample(t: values.0, x: values.1, y: values.2)
        if layout.binocular {
            sample.rx = values.3
            sample.ry = values.4
            if layout.withConfidence { (sample.confidence, sample.rightConfidence) = (values.5, values.6) }
        } else if layout.withConfidence {
            sample.confidence = values.3
        }
        return sample
    }

    /// A cell's value: the time must be a finite number; other fields may also be lost (NaN).
    static func value(_ cell: UnsafeRawBufferPointer, isTime: Bool) -> Double? {
        switch CSVNumber.parse(cell) {
        case .number(let value): value
        case .notANumber, .empty: isTime ? nil : .nan
        case .invalid: nil
        }
    }

    /// Why `parseLine` refused a line, in words: `has 2 fields, expected 3`, `x is not a finite number: "abc"`.
    static func problem(in line: UnsafeRawBufferPointer, layout: RecordingLayout) -> String {
        let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        let fieldNames = layout.columns, expected = fieldNames.count
        let names = layout.header
        guard fields.count == expected else { return "has \(fields.count) field\(fields.count == 1 ? "" : "s"), expected \(expected) (\(names))" }
        for (name, field) in zip(fieldNames, fields) where value(UnsafeRawBufferPointer(rebasing: field), isTime: name == "t") == nil {
            return "\(name) is not a \(name == "t" ? "finite " : "")number: \(EscapedText.quoted(field, limit: 24))"
        }
        return "cannot be parsed"
    }

    /// Why `path` could not be listed, in the system's words (`No such file or directory`):
    /// Foundation's own message on Linux is often only "The operation could not be completed".
    public static func listingFailure(_ path: String, _ error: any Error) -> String {
        guard let stream = opendir(path) else { return systemErrorText() }
        closedir(stream)
        return error.localizedDescription
    }
}

/// One recorded sample as read: NaN where a value was lost (`nan` or empty), confidence NaN
/// when the recording keeps none; `x`, `y` and `confidence` are the left eye's in a binocular one.
struct RecordedSample {
    var t: Double, x = Double.nan, y = Double.nan, confidence = Double.nan
    var rx = Double.nan, ry = Double.nan, rightConfidence = Double.nan
    /// A step inserted for a sample missing at the stream's rate, not a line of the file.
    var isBridged = false
}

/// The most recent `capacity` accepted samples of one file (older ones overwritten), each
/// with whether it starts a new sequence; grows only as samples arrive.
struct SampleRing {
    let capacity: Int
    private var samples: [RecordedSample] = []
    private var starts: [Bool] = []
    /// Where the oldest sample sits once the ring is full.
    private var head = 0
    /// Samples pushed out by newer ones.
    private(set) var dropped = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func push(_ sample: RecordedSample, startsSequence: Bool) {
        if samples.count < capacity {
            samples.append(sample)
            starts.append(startsSequence)
        } else {
            samples[head] = sample
            starts[head] = startsSequence
            head = (head + 1) % capacity
            dropped += 1
        }
    }

    /// The kept samples, oldest first, cut into sequences (the first kept sample starts one),
    /// each masked by the stream's model (lost and implausible ones counted in `scan`).
    func segments(file: String, model: StreamModel, scan: inout RecordingScan) -> [RecordingScan.Segment] {
        var segments: [RecordingScan.Segment] = []
        var current: RecordingScan.Segment?
        for k in 0..<samples.count {
            let i = (head + k) % samples.count
            if k == 0 || starts[i] {
                if let current { segments.append(current) }
                current = RecordingScan.Segment(file: file, times: [], observations: ObservationSequence(dimension: model.observationDimension))
            }
            let sample = samples[i]
            current!.times.append(sample.t)
            var values = model.binocular ? [sample.x, sample.y, sample.rx, sample.ry] : [sample.x, sample.y]
            let judgement = model.judge(&values, confidence: sample.confidence, rightConfidence: sample.rightConfidence)
            if judgement.implausibleEyes > 0 { scan.implausibleSamples += 1 }
            if judgement.isOneEye { scan.oneEyeSamples += 1 }
            if judgement.verdict == .lost && !sample.isBridged { scan.lostSamples += 1 }
            if judgement.verdict.isMasked { current!.observations.appendMasked() } else { current!.observations.append(values) }
        }
        if let current { segments.append(current) }
        return segments
    }
}
