import Foundation
import LinearDynamics

/// How raw values become masked observations.
public struct MaskingPolicy: Sendable, Equatable {
    /// Whether a negative component marks a lost sample (gaze); on by default.
    public var masksNegativeValues: Bool

    /// The gaze policy (negative values masked) unless told otherwise.
    public init(masksNegativeValues: Bool = true) { self.masksNegativeValues = masksNegativeValues }

    /// Whether a step with these components is masked: any NaN (an empty cell), or any
    /// negative value under the gaze policy.
    @inline(__always)
    public func isMasked(_ value: Double) -> Bool { value.isNaN || (masksNegativeValues && value < 0) }
}

/// Observations read from a CSV file: a header line whose first column is `t` (seconds),
/// then one column per observed component, one row per time step.
public struct ObservationFile: Sendable {
    /// The names of the observed columns (after `t`).
    public var columnNames: [String]
    /// Each step's time in seconds.
    public var times: [Double]
    /// The observations, masked where a cell was empty, NaN, or (by policy) negative.
    public var observations: ObservationSequence

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
    public static func read(_ path: String, masking: MaskingPolicy = MaskingPolicy()) throws(GazeFileError) -> ObservationFile {
        let bytes = try BoundedFile.read(path, limit: sizeLimit, kinds: .regularOrPipe, what: "input file")
        return try parse(bytes: bytes, path: path, masking: masking)
    }

    /// Parses observation CSV text; `path` names the source in errors.
    public static func parse(_ data: Data, path: String, masking: MaskingPolicy = MaskingPolicy()) throws(GazeFileError) -> ObservationFile {
        try parse(bytes: [UInt8](data), path: path, masking: masking)
    }

    /// Parses observation CSV bytes (at most `rowLimit` rows); `path` names the source in errors.
    public static func parse(bytes: [UInt8], path: String, masking: MaskingPolicy = MaskingPolicy()) throws(GazeFileError) -> ObservationFile {
        var lines = CSVLines(bytes)
        guard let header = lines.next() else { throw GazeFileError(path: path, line: 1, "empty file: expected a header line starting with t") }
        let names = header.fields.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        guard names.first == "t" else {
            throw GazeFileError(path: path, line: 1, "header must start with column t, found \"\(names.first ?? "")\"")
        }
        guard names.count >= 2 else { throw GazeFileError(path: path, line: 1, "header names no observed column after t") }
        let dimension = names.count - 1
        var file = ObservationFile(columnNames: Array(names.dropFirst()), times: [], observations: ObservationSequence(dimension: dimension))
        var row = [Double](repeating: 0, count: dimension)
        while let line = lines.next() {
            if line.isBlank { continue }
            guard file.times.count < rowLimit else {
                throw GazeFileError(path: path, line: line.number, "more than \(rowLimit) rows, the input limit: split the file")
            }
            let fields = line.fields
            guard fields.count == names.count else {
                throw GazeFileError(path: path, line: line.number, "has \(fields.count) fields, the header has \(names.count)")
            }
            guard let time = parseNumber(fields[0]), time.isFinite else {
                throw GazeFileError(path: path, line: line.number, "t is not a finite number: \"\(String(decoding: fields[0], as: UTF8.self))\"")
            }
            var masked = false
            for component in 0..<dimension {
                let cell = fields[component + 1]
                if isEmpty(cell) { masked = true; row[component] = .nan; continue }
                guard let value = parseNumber(cell), !value.isInfinite else {
                    throw GazeFileError(path: path, line: line.number,
                        "column \(names[component + 1]) is not a number: \"\(String(decoding: cell, as: UTF8.self))\"")
                }
                row[component] = value
                if masking.isMasked(value) { masked = true }
            }
            file.times.append(time)
            if masked { file.observations.appendMasked() } else { file.observations.append(row) }
        }
        return file
    }

    private static func isEmpty(_ cell: ArraySlice<UInt8>) -> Bool { cell.allSatisfy { $0 == 0x20 || $0 == 0x09 } }

    /// A decimal number (or NaN/nan), surrounding spaces allowed.
    static func parseNumber(_ cell: ArraySlice<UInt8>) -> Double? {
        let text = String(decoding: cell, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        if text.lowercased() == "nan" { return .nan }
        guard let first = text.utf8.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return nil }
        return Double(text)
    }

    /// Writes times and observations as CSV (masked steps as empty cells), atomically.
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
                if !observations.mask[t] { text += "\(observations.values[t * m + i])" }
            }
            text += "\n"
        }
        return text
    }

    /// Column names for m observed components: `x,y` for gaze (m = 2), else `y0,y1,…`.
    public static func defaultColumnNames(dimension: Int) -> [String] {
        dimension == 2 ? ["x", "y"] : (0..<dimension).map { "y\($0)" }
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
