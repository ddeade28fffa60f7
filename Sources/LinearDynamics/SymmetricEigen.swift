/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations.
///
/// Used off the hot path: positive (semi-)definiteness checks, the pseudo-inverse fallback
/// for singular covariances (what pykalman's `pinv` does), and square roots for sampling.
/// Jacobi is slow for big matrices but exact to rounding for the small ones of this model.
public struct SymmetricEigen: Sendable {
    /// Eigenvalues, in no particular order.
    public let values: [Double]
    /// Eigenvectors as the columns of an n×n orthogonal matrix, matching `values`.
    public let vectors: Matrix

    /// Decomposes the symmetric matrix `a` (only its symmetric part is used).
    public init(_ a: Matrix) {
        precondition(a.isSquare, "eigen-decomposition needs a square matrix")
        let n = a.rows
        var m = a.symmetrized
        var v = Matrix.identity(n)
        for _ in 0..<100 {
            var offDiagonal = 0.0
            for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { offDiagonal += m[i, j] * m[i, j] } }
            if offDiagonal == 0 || !offDiagonal.isFinite { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) where m[p, q] != 0 {
                    let theta = (m[q, q] - m[p, p]) / (2 * m[p, q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot()
                    let s = t * c
                    for k in 0..<n {
                        let mkp = m[k, p], mkq = m[k, q]
                        m[k, p] = c * mkp - s * mkq
                        m[k, q] = s * mkp + c * mkq
                    }
                    for k in 0..<n {
                        let mpk = m[p, k], mqk = m[q, k]
                        m[p, k] = c * mpk - s * mqk
                        m[q, k] = s * mpk + c * mqk
                    }
                    for k in 0..<n {
                        let vkp = v[k, p], vkq = v[k, q]
                        v[k, p] = c * vkp - s * vkq
                        v[k, q] = s * vkp + c * vkq
                    }
                }
            }
        }
        values = (0..<n).map { m[$0, $0] }
        vectors = v
    }

    /// V·f(Λ)·Vᵀ: a function applied to the eigenvalues.
    public func recomposed(_ transform: (Double) -> Double) -> Matrix {
        let n = values.count
        var result = Matrix(rows: n, columns: n)
        for k in 0..<n {
            let f = transform(values[k])
            if f == 0 { continue }
            for i in 0..<n { for j in 0..<n { result[i, j] += vectors[i, k] * f * vectors[j, k] } }
        }
        return result.symmetrized
    }

    /// The Moore–Penrose pseudo-inverse, cutting eigenvalues below the default relative cutoff
    /// of `scipy.linalg.pinv`, which pykalman calls (n·ε times the largest magnitude).
    public var pseudoInverse: Matrix {
        let largest = values.reduce(0) { max($0, abs($1)) }
        let cutoff = Double(max(values.count, 1)) * Double.ulpOfOne * largest
        return recomposed { abs($0) > cutoff ? 1 / $0 : 0 }
    }
}
