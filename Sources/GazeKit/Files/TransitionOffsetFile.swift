import Foundation
import LinearDynamics

/// Per-step transition offsets from CSV (`gazefit --transition-offsets B.csv`): a header
/// `b0,b1,…` naming the n state components, then one row per transition, row t being the
/// offset of the step from t to t+1 (pykalman's `transition_offsets[t]`; MODEL.md, "Offsets").
public enum TransitionOffsetFile {
    /// Reads the offsets of a model with `stateDimension` states (a regular file or a pipe, at
    /// most `ObservationFile.sizeLimit` bytes and `ObservationFile.rowLimit` rows, as the
    /// observations they go with); the result has one row per transition and n columns.
    /// - Throws: `GazeFileError` naming the file, the line and the problem.
    public static func read(_ path: String, stateDimension n: Int) throws(GazeFileError) -> Matrix {
        let bytes = try BoundedFile.read(path, limit: ObservationFile.sizeLimit, kinds: .regularOrPipe, what: "transition offsets file")
        return try parse(bytes: bytes, path: path, stateDimension: n)
    }

    /// Parses offset CSV bytes; `path` names the source in errors.
    public static func parse(bytes: [UInt8], path: String, stateDimension n: Int) throws(GazeFileError) -> Matrix {
        var lines = CSVLines(bytes)
        let expected = (0..<n).map { "b\($0)" }
        guard let header = lines.next() else {
            throw GazeFileError(path: path, line: 1, "empty file: expected the header \(expected.joined(separator: ","))")
        }
        let names = header.fields.map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespaces) }
        guard names == expected else {
            throw GazeFileError(path: path, line: 1,
                "header must be \(expected.joined(separator: ",")) (one column per state component, n = \(n)), found \"\(names.joined(separator: ","))\"")
        }
        var elements: [Double] = []
        var rows = 0
        while let line = lines.next() {
            if line.isBlank { continue }
            rows += 1
            guard rows <= ObservationFile.rowLimit else {
                throw GazeFileError(path: path, line: line.number, "has more than \(ObservationFile.rowLimit) rows")
            }
            let fields = line.fields
            guard fields.count == n else {
                throw GazeFileError(path: path, line: line.number, "has \(fields.count) fields, the header has \(n)")
            }
            for (component, cell) in fields.enumerated() {
                guard case .number(let value) = CSVNumber.parse(cell) else {
                    throw GazeFileError(path: path, line: line.number,
                        "b\(component) is not a finite number: \"\(String(decoding: cell, as: UTF8.self))\"")
                }
                elements.append(value)
            }
        }
        return Matrix(rows: elements.count / n, columns: n, elements: elements)
    }
}
