import Foundation
import LinearDynamics

/// Observations read from a CSV file: a header line whose first column is `t` (seconds),
/// then one column per observed component, one row per time step; a last column named
/// `confidence` is not observed but read for the confidence loss rule. An empty or NaN cell is
/// a missing component (the row's other components still count); which rows are masked is the
/// stream model's `verdict` (loss rule and plausible range) on the row's present components,
/// as in the daemon.
///
/// A binocular file's observed columns are `lx,ly,rx,ry` (`BinocularGaze.columns`), optionally
/// followed by `left_confidence,right_confidence` (or one `confidence` for both eyes): the loss
/// rule and plausible range then judge each eye on its own, as the daemon does for a binocular
/// stream, so one eye lost makes the row partly observed (that eye's cells NaN) and both a
/// masked step.
public struct ObservationFile: Sendable {
    /// The names of the observed columns (after `t`).
    public var columnNames: [String]
    /// Each step's time in seconds.
    public var times: [Double]
    /// The observations: NaN where a cell was empty or NaN (a missing component), masked where
    /// every cell was, or where the model says lost or implausible.
    public var observations: ObservationSequence
    /// Rows masked as implausible (finite values outside the model's plausible range).
    public var implausibleRows = 0
    /// Each row's confidence, when the file has a `confidence` column (a recording of a stream
    /// that keeps it); NaN where a cell is empty.
    public var confidences: [Double]?
    /// A binocular file's right-eye confidences (`right_confidence`), when it has them
    /// (`confidences` then holds the left eye's).
    public var rightConfidences: [Double]?

    /// Whether the observed columns are both eyes' (`lx,ly,rx,ry`).
    public var isBinocular: Bool { columnNames == BinocularGaze.columns }

    /// Observations with their times and column names.
    public init(columnNames: [String], times: [Double], observations: ObservationSequence) {
        self.columnNames = columnNames
        self.times = times
        self.observations = observations
    }

    /// The largest observation file read, in bytes. Memory while reading is about the file's
    /// size plus 8·(m + 1) bytes per row, and the commands' results take about as much again.
    public static let sizeLimit = 512 << 20
    /// The most rows read (10,000,000: 83 minutes at 2 kHz, 11 hours at 250 Hz).
    public static let rowLimit = 10_000_000

    /// Reads an observation CSV file: a regular file or a pipe (`/dev/stdin`), at most
    /// `sizeLimit` bytes and `rowLimit` rows.
    /// - Throws: `GazeFileError` naming the file, the line and the problem.
    /// - Parameter model: which rows are lost or implausible (default: gaze's, `StreamModel()`).
    public static func read(_ path: String, model: StreamModel = StreamModel()) throws(GazeFileError) -> ObservationFile {
        let bytes = try BoundedFile.read(path, limit: sizeLimit, kinds: .regularOrPipe, what: "input file")
        return try parse(bytes: bytes, path: path, model: model)
    }

    /// Parses observation CSV text; `path` names the source in errors.
    public static func parse(_ data: Data, path: String, model: StreamModel = StreamModel()) throws(GazeFileError) -> ObservationFile {
        try parse(bytes: [UInt8](data), path: path, model: model)
    }

    /// Parses observation CSV bytes (at most `rowLimit` rows); `path` names the source in errors.
    public static func parse(bytes: [UInt8], path: String, model: StreamModel = StreamModel()) throws(GazeFileError) -> ObservationFile {
        var lines = CSVLines(bytes)
        guard let header = lines.next() else { throw GazeFileError(path: path, line: 1, "empty file: expected a header line starting with t") }
        let names = header.fields.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        guard names.first == "t" else {
            throw GazeFileError(path: path, line: 1, "header must start with column t, found \"\(names.first ?? "")\"")
        }
        let eyeConfidences = names.count >= 4 && Array(names.suffix(2)) == BinocularGaze.confidenceColumns
        let hasConfidence = eyeConfidences || (names.count >= 3 && names.last == "confidence")
        let dimension = names.count - 1 - (eyeConfidences ? 2 : hasConfidence ? 1 : 0)
        guard dimension >= 1 else { throw GazeFileError(path: path, line: 1, "header names no observed column after t") }
        var file = ObservationFile(columnNames: Array(names[1...dimension]), times: [], observations: ObservationSequence(dimension: dimension))
        let binocular = file.isBinocular
        if eyeConfidences && !binocular {
            throw GazeFileError(path: path, line: 1, "left_confidence and right_confidence need the binocular columns t,lx,ly,rx,ry before them")
        }
        if hasConfidence { file.confidences = [] }
        if eyeConfidences { file.rightConfidences = [] }
        var row = [Double](repeating: 0, count: dimension)
        var present = [Double]()
        present.reserveCapacity(dimension)
        while let line = lines.next() {
            if line.isBlank { continue }
            guard file.times.count < rowLimit else {
                throw GazeFileError(path: path, line: line.number, "more than \(rowLimit) rows, the input limit: split the file")
            }
            let fields = line.fields
            guard fields.count == names.count else {
                throw GazeFileError(path: path, line: line.number, "has \(fields.count) fields, the header has \(names.count)")
            }
            guard case .number(let time) = CSVNumber.parse(fields[0]) else {
                throw GazeFileError(path: path, line: line.number, "t is not a finite number: \"\(String(decoding: fields[0], as: UTF8.self))\"")
            }
            var confidence = Double.nan, rightConfidence = Double.nan
            for column in 1..<names.count {
                let value: Double
                switch CSVNumber.parse(fields[column]) {
                case .number(let number): value = number
                case .notANumber, .empty: value = .nan
                case .invalid:
                    throw GazeFileError(path: path, line: line.number,
                        "column \(names[column]) is not a number: \"\(String(decoding: fields[column], as: UTF8.self))\"")
                }
                if column <= dimension { row[column - 1] = value } else if column == dimension + 1 { confidence = value } else { rightConfidence = value }
            }
            let verdict: SampleVerdict
            if binocular {  // each eye on its own; a lost eye's cells become NaN
                verdict = model.judge(&row, confidence: confidence, rightConfidence: eyeConfidences ? rightConfidence : confidence).verdict
            } else {
                present.removeAll(keepingCapacity: true)
                for value in row where !value.isNaN { present.append(value) }
                verdict = present.isEmpty ? .lost : model.verdict(present, confidence: confidence)
            }
            file.times.append(time)
            file.confidences?.append(confidence)
            file.rightConfidences?.append(rightConfidence)
            if verdict == .implausible { file.implausibleRows += 1 }
            if verdict.isMasked { file.observations.appendMasked() } else { file.observations.append(row) }
        }
        return file
    }

    /// Writes times and observations as CSV (missing components and masked steps as empty cells), atomically.
    public static func write(times: [Double], observations: ObservationSequence, columnNames: [String], to path: String) throws(GazeFileError) {
        try AtomicFile.write(text: csv(times: times, observations: observations, columnNames: columnNames), to: path)
    }

    /// The CSV text for times and observations.
    public static func csv(times: [Double], observations: ObservationSequence, columnNames: [String]) -> String {
        var text = "t," + columnNames.joined(separator: ",") + "\n"
        text.reserveCapacity(observations.count * 48)
        let m = observations.dimension
        for t in 0..<observations.count {
            text += "\(times[t])"
            for i in 0..<m {
                text += ","
                let value = observations.values[t * m + i]
                if !value.isNaN { text += "\(value)" }
            }
            text += "\n"
        }
        return text
    }

    /// Column names for m observed components: `x,y` for gaze (m = 2), `lx,ly,rx,ry` for both
    /// eyes' gaze (m = 4), else `y0,y1,…`.
    public static func defaultColumnNames(dimension: Int) -> [String] {
        dimension == 2 ? ["x", "y"] : dimension == 4 ? BinocularGaze.columns : (0..<dimension).map { "y\($0)" }
    }
}

/// Lines of a CSV file with their 1-based numbers; fields split on commas (no quoting:
/// these files hold numbers only). A final line without a newline is still a line.
struct CSVLines: IteratorProtocol {
    struct Line {
        let number: Int
        let bytes: ArraySlice<UInt8>
        var isBlank: Bool { bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D } }
        var fields: [ArraySlice<UInt8>] {
            var trimmed = bytes
            if trimmed.last == 0x0D { trimmed = trimmed.dropLast() }
            return trimmed.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        }
    }

    private let bytes: [UInt8]
    private var position = 0
    private var lineNumber = 0

    /// Lines of `data`; a UTF-8 byte-order mark (as spreadsheet exports write) is skipped.
    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
    }

    mutating func next() -> Line? {
        guard position < bytes.count else { return nil }
        let start = position
        while position < bytes.count && bytes[position] != 0x0A { position += 1 }
        let line = Line(number: lineNumber + 1, bytes: bytes[start..<position])
        position += 1
        lineNumber += 1
        return line
    }
}
