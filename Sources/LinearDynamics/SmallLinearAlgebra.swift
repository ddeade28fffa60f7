/// Allocation-free kernels on row-major matrices held in raw storage.
///
/// Every filter step, smoother step and EM accumulation goes through these, for any
/// dimensions; callers own the storage (allocated once) and pass pointers in.
/// Shapes are the callers' contract and are not re-checked here.
@usableFromInline
enum SmallLinearAlgebra {
    typealias Pointer = UnsafeMutablePointer<Double>
    typealias ConstPointer = UnsafePointer<Double>

    /// c (r×k) = a (r×s) · b (s×k).
    @inline(__always)
    static func multiply(_ a: ConstPointer, _ b: ConstPointer, into c: Pointer, rows r: Int, inner s: Int, columns k: Int) {
        for i in 0..<r {
            for j in 0..<k {
                var sum = 0.0
                for l in 0..<s { sum += a[i * s + l] * b[l * k + j] }
                c[i * k + j] = sum
            }
        }
    }

    /// c (r×k) = a (r×s) · bᵀ, where b is k×s.
    @inline(__always)
    static func multiplyTransposed(_ a: ConstPointer, _ b: ConstPointer, into c: Pointer, rows r: Int, inner s: Int, columns k: Int) {
        for i in 0..<r {
            for j in 0..<k {
                var sum = 0.0
                for l in 0..<s { sum += a[i * s + l] * b[j * s + l] }
                c[i * k + j] = sum
            }
        }
    }

    /// y (r) = a (r×s) · x (s).
    @inline(__always)
    static func multiply(_ a: ConstPointer, vector x: ConstPointer, into y: Pointer, rows r: Int, columns s: Int) {
        for i in 0..<r {
            var sum = 0.0
            for l in 0..<s { sum += a[i * s + l] * x[l] }
            y[i] = sum
        }
    }

    /// Replaces the n×n matrix `a` by (a + aᵀ)/2, exact symmetry after rounding.
    @inline(__always)
    static func symmetrize(_ a: Pointer, _ n: Int) {
        for i in 0..<n {
            for j in (i + 1)..<max(i + 1, n) {
                let mean = 0.5 * (a[i * n + j] + a[j * n + i])
                a[i * n + j] = mean
                a[j * n + i] = mean
            }
        }
    }

    /// Lower Cholesky factor of the symmetric n×n `a` into `l` (upper part zeroed).
    ///
    /// Returns the sum of log-diagonal entries of `l` (half the log-determinant), or nil when `a`
    /// is not numerically positive definite: a pivot that is not finite or not above
    /// `n·ε` times the largest diagonal entry.
    @inline(__always)
    static func cholesky(_ a: ConstPointer, into l: Pointer, _ n: Int) -> Double? {
        var largestDiagonal = 0.0
        for i in 0..<n { largestDiagonal = max(largestDiagonal, abs(a[i * n + i])) }
        let floor = Double(n) * Double.ulpOfOne * largestDiagonal
        var halfLogDeterminant = 0.0
        for j in 0..<n {
            var pivot = a[j * n + j]
            for k in 0..<j { pivot -= l[j * n + k] * l[j * n + k] }
            guard pivot.isFinite, pivot > floor else { return nil }
            let root = pivot.squareRoot()
            l[j * n + j] = root
            halfLogDeterminant += _log(root)
            for i in (j + 1)..<max(j + 1, n) {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = sum / root
            }
            for i in 0..<j { l[i * n + j] = 0 }
        }
        return halfLogDeterminant
    }

    /// Solves L·X = B in place for X, L lower-triangular n×n, B n×k.
    @inline(__always)
    static func solveLower(_ l: ConstPointer, _ b: Pointer, _ n: Int, columns k: Int) {
        for c in 0..<k {
            for i in 0..<n {
                var sum = b[i * k + c]
                for j in 0..<i { sum -= l[i * n + j] * b[j * k + c] }
                b[i * k + c] = sum / l[i * n + i]
            }
        }
    }

    /// Solves Lᵀ·X = B in place for X, L lower-triangular n×n, B n×k.
    @inline(__always)
    static func solveLowerTransposed(_ l: ConstPointer, _ b: Pointer, _ n: Int, columns k: Int) {
        for c in 0..<k {
            var i = n - 1
            while i >= 0 {
                var sum = b[i * k + c]
                for j in (i + 1)..<max(i + 1, n) { sum -= l[j * n + i] * b[j * k + c] }
                b[i * k + c] = sum / l[i * n + i]
                i -= 1
            }
        }
    }

    /// A state estimate in observation space: H·mean + d (m values) and H·Σ·Hᵀ (m×m, row-major,
    /// computed on the upper triangle and mirrored). What the daemon publishes, for the filter's
    /// state and the fixed-lag smoother's alike.
    @inline(__always)
    static func observationEstimate(observation h: ConstPointer, offset d: ConstPointer, mean: ConstPointer, covariance sigma: ConstPointer,
                                    into estimate: Pointer, covariance estimateCovariance: Pointer, _ n: Int, _ m: Int) {
        multiply(h, vector: mean, into: estimate, rows: m, columns: n)
        for i in 0..<m { estimate[i] += d[i] }
        for i in 0..<m {
            for j in i..<m {
                var sum = 0.0
                for a in 0..<n {
                    var row = 0.0
                    for b in 0..<n { row += sigma[a * n + b] * h[j * n + b] }
                    sum += h[i * n + a] * row
                }
                estimateCovariance[i * m + j] = sum
                estimateCovariance[j * m + i] = sum
            }
        }
    }

    /// Natural log without Foundation.
    @inline(__always)
    static func _log(_ x: Double) -> Double { x.logarithm }
}

extension Double {
    /// Natural logarithm, through the C library.
    @usableFromInline
    var logarithm: Double {
        #if canImport(Glibc)
        return Glibc.log(self)
        #else
        return Darwin.log(self)
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
