#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LinearDynamics

/// One stream's recordings read back for a refit: the daemon's `<stream>/<UTC date>.csv`
/// files (header `t,x,y`) split into sequences at file boundaries and at gaps, with every
/// line that could not be used counted.
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
    /// The sequences, oldest first.
    public var segments: [Segment] = []
    /// Lines that were not three numbers (each skipped), and where the first few were.
    public var corruptLines = 0
    public var corruptExamples: [String] = []
    /// A last line without its newline (a file still being written), ignored.
    public var incompleteLines = 0
    /// Samples older than the one before them (the daemon dropped these too), skipped.
    public var outOfOrder = 0
    /// Samples dropped from the oldest end to respect the sample limit.
    public var trimmed = 0

    /// Samples kept, over all segments.
    public var sampleCount: Int { segments.reduce(0) { $0 + $1.observations.count } }
}

public enum RecordingReader {
    /// Reads `directory/*.csv` (one stream's recordings).
    /// - Parameters:
    ///   - since: only files named on or after this UTC date (`YYYY-MM-DD`); nil reads all.
    ///   - maximumSamples: keep at most this many, the most recent.
    ///   - splitGap: a gap in `t` longer than this (seconds) starts a new sequence.
    ///   - masking: which samples are lost (negative coordinates by default).
    /// - Throws: `GazeFileError` when the directory cannot be listed.
    public static func read(directory: String, since: String? = nil, maximumSamples: Int = .max, splitGap: Double,
                            masking: MaskingPolicy = MaskingPolicy()) throws(GazeFileError) -> RecordingScan {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw GazeFileError(path: directory, "cannot list recordings: \(error.localizedDescription)")
        }
        var scan = RecordingScan()
        for name in names.sorted() where name.hasSuffix(".csv") && !name.hasPrefix(".") {
            if let since, String(name.dropLast(4)) < since { continue }
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                scan.corruptExamples.append("\(path): cannot be read")
                continue
            }
            scan.files.append(path)
            read(data, path: path, splitGap: splitGap, masking: masking, into: &scan)
        }
        trim(&scan, to: maximumSamples)
        return scan
    }

    static func read(_ data: Data, path: String, splitGap: Double, masking: MaskingPolicy, into scan: inout RecordingScan) {
        var current: RecordingScan.Segment?
        var lastTime = -Double.infinity
        func finish() {
            if let segment = current, !segment.observations.isEmpty { scan.segments.append(segment) }
            current = nil
        }
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var start = 0, lineNumber = 0
            while start < raw.count {
                guard let end = raw[start...].firstIndex(of: 0x0A) else {
                    scan.incompleteLines += 1  // still being appended: read up to the last complete line
                    break
                }
                lineNumber += 1
                let line = UnsafeRawBufferPointer(rebasing: raw[start..<end])
                start = end + 1
                if lineNumber == 1 && line.starts(with: Array("t,".utf8)) { continue }
                guard let (t, x, y) = parseLine(line) else {
                    scan.corruptLines += 1
                    if scan.corruptExamples.count < 5 { scan.corruptExamples.append("\(path):\(lineNumber)") }
                    continue
                }
                if t < lastTime {
                    scan.outOfOrder += 1
                    continue
                }
                if t - lastTime > splitGap { finish() }
                lastTime = t
                if current == nil { current = RecordingScan.Segment(file: path, times: [], observations: ObservationSequence(dimension: 2)) }
                current!.times.append(t)
                if masking.isMasked(x) || masking.isMasked(y) { current!.observations.appendMasked() } else { current!.observations.append([x, y]) }
            }
        }
        finish()
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

    /// Keeps the most recent `limit` samples.
    static func trim(_ scan: inout RecordingScan, to limit: Int) {
        var excess = scan.sampleCount - limit
        guard excess > 0 else { return }
        scan.trimmed = excess
        while excess > 0, let first = scan.segments.first {
            let count = first.observations.count
            if count <= excess {
                scan.segments.removeFirst()
                excess -= count
            } else {
                scan.segments[0] = first.slice(excess..<count)
                excess = 0
            }
        }
    }
}
