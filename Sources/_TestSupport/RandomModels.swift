import LinearDynamics

/// Random but valid models of any size, for tests that must not depend on n = m = 2.
public enum RandomModels {
    /// A stable random model with n states and m observations: D scaled to spectral radius
    /// below one, random SPD Q, R and sigma_0.
    public static func make(n: Int, m: Int, seed: UInt64) -> ModelParameters {
        var generator = SeededGenerator(seed: seed)
        func random(_ rows: Int, _ columns: Int) -> Matrix {
            Matrix(rows: rows, columns: columns, elements: (0..<(rows * columns)).map { _ in generator.nextStandardNormal() })
        }
        func spd(_ size: Int, scale: Double) -> Matrix {
            let a = random(size, size)
            return (scale * (a * a.transposed + Double(size) * Matrix.identity(size))).symmetrized
        }
        var d = random(n, n)
        let radius = SymmetricEigen(d * d.transposed).values.max()!.squareRoot()
        d = (0.95 / max(radius, 1e-9)) * d
        return ModelParameters(
            transition: d, transitionCovariance: spd(n, scale: 0.5), observation: random(m, n),
            observationCovariance: spd(m, scale: 1), initialMean: (0..<n).map { _ in generator.nextStandardNormal() },
            initialCovariance: spd(n, scale: 1))
    }
}

/// The filter and smoother of MODEL.md written as plainly as possible, with explicit inverses:
/// an independent check of the optimised core for any n and m.
public enum NaiveKalman {
    /// Gauss–Jordan inverse with partial pivoting.
    public static func inverse(_ a: Matrix) -> Matrix {
        let n = a.rows
        var m = a, inv = Matrix.identity(n)
        for column in 0..<n {
            let pivot = (column..<n).max { abs(m[$0, column]) < abs(m[$1, column]) }!
            for j in 0..<n {
                (m[column, j], m[pivot, j]) = (m[pivot, j], m[column, j])
                (inv[column, j], inv[pivot, j]) = (inv[pivot, j], inv[column, j])
            }
            let scale = m[column, column]
            for j in 0..<n { m[column, j] /= scale; inv[column, j] /= scale }
            for i in 0..<n where i != column {
                let factor = m[i, column]
                for j in 0..<n { m[i, j] -= factor * m[column, j]; inv[i, j] -= factor * inv[column, j] }
            }
        }
        return inv
    }

    /// log|A| through the LU elimination of `inverse`'s kind.
    public static func logDeterminant(_ a: Matrix) -> Double {
        let n = a.rows
        var m = a, result = 0.0
        for column in 0..<n {
            let pivot = (column..<n).max { abs(m[$0, column]) < abs(m[$1, column]) }!
            for j in 0..<n { (m[column, j], m[pivot, j]) = (m[pivot, j], m[column, j]) }
            result += m[column, column].magnitude.logarithmForTests
            for i in (column + 1)..<max(column + 1, n) {
                let factor = m[i, column] / m[column, column]
                for j in 0..<n { m[i, j] -= factor * m[column, j] }
            }
        }
        return result
    }

    /// Filtered and smoothed means and covariances, and the log-likelihood.
    public static func run(_ p: ModelParameters, _ observations: [[Double]?]) -> (filtered: [([Double], Matrix)], smoothed: [([Double], Matrix)], logLikelihood: Double) {
        var filtered: [([Double], Matrix)] = [], predicted: [([Double], Matrix)] = []
        var logLikelihood = 0.0
        for (t, y) in observations.enumerated() {
            var mean: [Double], cov: Matrix
            if t == 0 { mean = p.initialMean; cov = p.initialCovariance } else {
                mean = p.transition * filtered[t - 1].0
                cov = p.transition * filtered[t - 1].1 * p.transition.transposed + p.transitionCovariance
            }
            predicted.append((mean, cov))
            if let y {
                let s = p.observation * cov * p.observation.transposed + p.observationCovariance
                let sInverse = inverse(s)
                let gain = cov * p.observation.transposed * sInverse
                let innovation = zip(y, p.observation * mean).map(-)
                mean = zip(mean, gain * innovation).map(+)
                cov = cov - gain * p.observation * cov
                let quadratic = zip(innovation, sInverse * innovation).map(*).reduce(0, +)
                logLikelihood += -0.5 * (quadratic + Double(y.count) * (2 * Double.pi).logarithmForTests + logDeterminant(s))
            }
            filtered.append((mean, cov))
        }
        var smoothed = filtered
        if observations.count > 1 {
            for t in stride(from: observations.count - 2, through: 0, by: -1) {
                let j = filtered[t].1 * p.transition.transposed * inverse(predicted[t + 1].1)
                smoothed[t].0 = zip(filtered[t].0, j * zip(smoothed[t + 1].0, predicted[t + 1].0).map(-)).map(+)
                smoothed[t].1 = filtered[t].1 + j * (smoothed[t + 1].1 - predicted[t + 1].1) * j.transposed
            }
        }
        return (filtered, smoothed, logLikelihood)
    }
}

extension Double {
    /// ln of this number through the C library, for comparisons in tests.
    public var logarithmForTests: Double {
        _cLog(self)
    }
}

#if canImport(Glibc)
import Glibc
private func _cLog(_ x: Double) -> Double { Glibc.log(x) }
#endif
