/// What EM's E-step needs about the missing components of a partly observed step, for one
/// pattern of missing components u (observed o) under one parameter set (MODEL.md, "Missing
/// components"): A = R_uo R_oo⁻¹, G = H_u − A H_o and C = R_uu − A R_ou, so that
/// E[y_u | data] = H_u μ_s + d_u + A (y_o − H_o μ_s − d_o), Cov(y_u, s | data) = G Σ_s and
/// Cov(y_u | data) = G Σ_s Gᵀ + C. Made once per pattern and E-step, not per step.
struct MissingPattern: Sendable {
    let observed: [Int], missing: [Int]
    /// A (|u|×|o|), G (|u|×n), C (|u|×|u|), H (m×n), row-major.
    let a: [Double], g: [Double], c: [Double], h: [Double]
    let n: Int

    /// The pattern whose missing components are `missing`, under parameters `p`.
    init(_ p: ModelParameters, missing: [Int]) {
        let m = p.observationDimension, state = Array(0..<p.stateDimension)
        n = p.stateDimension
        self.missing = missing
        observed = (0..<m).filter { !missing.contains($0) }
        func part(_ x: Matrix, _ rows: [Int], _ columns: [Int]) -> Matrix {
            Matrix(rows: rows.count, columns: columns.count, elements: rows.flatMap { i in columns.map { x[i, $0] } })
        }
        let r = p.observationCovariance, hm = p.observation
        let ruo = part(r, missing, observed)
        let am = ruo * SymmetricEigen(part(r, observed, observed)).pseudoInverse
        a = am.elements
        g = (part(hm, missing, state) - am * part(hm, observed, state)).elements
        c = (part(r, missing, missing) - am * ruo.transposed).symmetrized.elements
        h = hm.elements
    }

    /// For a step observed as `y` (NaN where missing) with smoothed mean `mean` (about the origin)
    /// and covariance `covariance`: writes E[y_u | data] − c_y,u into the missing entries of
    /// `shifted` (whose observed entries hold y_o − c_y,o), and adds the missing components' extra
    /// moments to the statistics: G Σ_s to the rows u of Σ ỹ x̃ᵀ, G Σ_s Gᵀ + C to the block uu of
    /// Σ ỹ ỹᵀ. `scratch` holds |u|·n + m values.
    func accumulate(_ y: UnsafePointer<Double>, mean: UnsafePointer<Double>, covariance: UnsafePointer<Double>,
                    offset d: [Double], shift cy: [Double], shifted: UnsafeMutablePointer<Double>,
                    scratch: UnsafeMutablePointer<Double>, block: UnsafeMutablePointer<Double>, layout: SufficientStatistics.Layout) {
        let m = layout.m, o = observed.count, u = missing.count
        let residual = scratch, gSigma = scratch + m
        for (k, i) in observed.enumerated() {
            var predicted = d[i]
            for j in 0..<n { predicted += h[i * n + j] * mean[j] }
            residual[k] = y[i] - predicted
        }
        for (k, i) in missing.enumerated() {
            var expected = d[i]
            for j in 0..<n { expected += h[i * n + j] * mean[j] }
            for l in 0..<o { expected += a[k * o + l] * residual[l] }
            shifted[i] = expected - cy[i]
        }
        for k in 0..<u {
            for j in 0..<n {
                var sum = 0.0
                for l in 0..<n { sum += g[k * n + l] * covariance[l * n + j] }
                gSigma[k * n + j] = sum
            }
        }
        for (k, i) in missing.enumerated() {
            for j in 0..<n { block[layout.observationCross + i * n + j] += gSigma[k * n + j] }
            for (l, i2) in missing.enumerated() {
                var sum = c[k * u + l]
                for j in 0..<n { sum += gSigma[k * n + j] * g[l * n + j] }
                block[layout.observationSquares + i * m + i2] += sum
            }
        }
    }
}

/// One E-step worker's `MissingPattern`s, made on first use and kept by the bit set of their
/// missing components (m ≤ 64, any gaze model; beyond that, made per step). A class so that the
/// E-step's inner loop holds a reference, not a dictionary it would copy or box.
final class MissingPatternCache {
    private var patterns: [UInt64: MissingPattern] = [:]

    /// For a partly observed step y (NaN where missing; nothing happens for a whole one), adds its
    /// missing components' moments to the statistics: see `MissingPattern.accumulate`.
    @inline(never)
    func accumulate(_ y: UnsafePointer<Double>, parameters: ModelParameters, mean: UnsafePointer<Double>, covariance: UnsafePointer<Double>,
                    shift cy: [Double], shifted: UnsafeMutablePointer<Double>, scratch: UnsafeMutablePointer<Double>,
                    block: UnsafeMutablePointer<Double>, layout: SufficientStatistics.Layout) {
        let m = layout.m
        var key: UInt64 = 0, any = false
        for i in 0..<m where y[i].isNaN { any = true; if i < 64 { key |= 1 << UInt64(i) } }
        guard any else { return }
        let pattern: MissingPattern
        if m <= 64, let kept = patterns[key] {
            pattern = kept
        } else {
            pattern = MissingPattern(parameters, missing: (0..<m).filter { y[$0].isNaN })
            if m <= 64 { patterns[key] = pattern }
        }
        pattern.accumulate(y, mean: mean, covariance: covariance, offset: parameters.observationOffset, shift: cy,
                           shifted: shifted, scratch: scratch, block: block, layout: layout)
    }
}
