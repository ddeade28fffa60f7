/// A dense, row-major matrix of `Double`: the container for model parameters and batch results.
///
/// Small and simple on purpose: the hot loops of the filter work on raw storage
/// (see `SmallLinearAlgebra`), while `Matrix` is what callers hold, compare and print.
public struct Matrix: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let columns: Int
    /// Entries in row-major order: entry (i, j) is `elements[i * columns + j]`.
    public var elements: [Double]

    /// A `rows`×`columns` matrix with every entry `value`.
    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        precondition(rows >= 0 && columns >= 0, "matrix dimensions must not be negative")
        self.rows = rows
        self.columns = columns
        self.elements = Array(repeating: value, count: rows * columns)
    }

    /// A matrix over row-major `elements`; their count must be `rows * columns`.
    public init(rows: Int, columns: Int, elements: [Double]) {
        precondition(elements.count == rows * columns, "matrix needs \(rows * columns) entries, got \(elements.count)")
        self.rows = rows
        self.columns = columns
        self.elements = elements
    }

    /// A matrix from nested rows, or nil when the rows are ragged.
    public init?(nestedRows: [[Double]]) {
        let columns = nestedRows.first?.count ?? 0
        guard nestedRows.allSatisfy({ $0.count == columns }) else { return nil }
        self.init(rows: nestedRows.count, columns: columns, elements: nestedRows.flatMap { $0 })
    }

    /// The n×n identity matrix.
    public static func identity(_ n: Int) -> Matrix {
        var result = Matrix(rows: n, columns: n)
        for i in 0..<n { result[i, i] = 1 }
        return result
    }

    /// A square matrix with `diagonal` on its diagonal and zero elsewhere.
    public static func diagonal(_ diagonal: [Double]) -> Matrix {
        var result = Matrix(rows: diagonal.count, columns: diagonal.count)
        for (i, value) in diagonal.enumerated() { result[i, i] = value }
        return result
    }

    /// Entry (row, column).
    @inlinable
    public subscript(row: Int, column: Int) -> Double {
        get { elements[row * columns + column] }
        set { elements[row * columns + column] = newValue }
    }

    /// The rows as nested arrays, the shape JSON parameter files use.
    public var nestedRows: [[Double]] {
        (0..<rows).map { Array(elements[($0 * columns)..<(($0 + 1) * columns)]) }
    }

    /// Whether rows equal columns.
    public var isSquare: Bool { rows == columns }

    /// The transpose.
    public var transposed: Matrix {
        var result = Matrix(rows: columns, columns: rows)
        for i in 0..<rows { for j in 0..<columns { result[j, i] = self[i, j] } }
        return result
    }

    /// The largest absolute difference between this matrix and its transpose.
    public var asymmetry: Double {
        precondition(isSquare)
        var worst = 0.0
        for i in 0..<rows { for j in (i + 1)..<max(i + 1, columns) { worst = max(worst, abs(self[i, j] - self[j, i])) } }
        return worst
    }

    /// The largest absolute entry (0 for an empty matrix).
    public var maxMagnitude: Double { elements.reduce(0) { max($0, abs($1)) } }

    /// Whether every entry is finite.
    public var isFinite: Bool { elements.allSatisfy { $0.isFinite } }

    /// (A + Aᵀ) / 2: removes the rounding asymmetry of a computed covariance.
    public var symmetrized: Matrix {
        precondition(isSquare)
        var result = self
        for i in 0..<rows {
            for j in (i + 1)..<max(i + 1, columns) {
                let mean = 0.5 * (self[i, j] + self[j, i])
                result[i, j] = mean
                result[j, i] = mean
            }
        }
        return result
    }

    /// The matrix product.
    public static func * (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.columns == rhs.rows, "cannot multiply \(lhs.rows)×\(lhs.columns) by \(rhs.rows)×\(rhs.columns)")
        var result = Matrix(rows: lhs.rows, columns: rhs.columns)
        for i in 0..<lhs.rows {
            for k in 0..<lhs.columns {
                let a = lhs[i, k]
                for j in 0..<rhs.columns { result.elements[i * rhs.columns + j] += a * rhs[k, j] }
            }
        }
        return result
    }

    /// The matrix-vector product.
    public static func * (lhs: Matrix, rhs: [Double]) -> [Double] {
        precondition(lhs.columns == rhs.count)
        return (0..<lhs.rows).map { i in (0..<lhs.columns).reduce(0) { $0 + lhs[i, $1] * rhs[$1] } }
    }

    /// Entrywise sum.
    public static func + (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.rows == rhs.rows && lhs.columns == rhs.columns)
        return Matrix(rows: lhs.rows, columns: lhs.columns, elements: zip(lhs.elements, rhs.elements).map(+))
    }

    /// Entrywise difference.
    public static func - (lhs: Matrix, rhs: Matrix) -> Matrix {
        precondition(lhs.rows == rhs.rows && lhs.columns == rhs.columns)
        return Matrix(rows: lhs.rows, columns: lhs.columns, elements: zip(lhs.elements, rhs.elements).map(-))
    }

    /// Every entry scaled.
    public static func * (scale: Double, matrix: Matrix) -> Matrix {
        Matrix(rows: matrix.rows, columns: matrix.columns, elements: matrix.elements.map { scale * $0 })
    }

    public var description: String {
        "[" + nestedRows.map { "[" + $0.map { "\($0)" }.joined(separator: ", ") + "]" }.joined(separator: ", ") + "]"
    }
}
