/// A sequence of T observations of size m: each step observed whole, in part (some components
/// missing), or masked (no component observed).
///
/// Stored flat (row-major, T×m) with a step mask beside it; a missing component's value is NaN,
/// so a masked row is all NaN (MODEL.md, "Missing components").
public struct ObservationSequence: Equatable, Sendable {
    /// m, the number of components per observation.
    public let dimension: Int
    /// All values, row-major; a missing component (and every component of a masked step) is NaN.
    public private(set) var values: [Double] = []
    /// `mask[t]` is true when step t is masked: none of its components is observed.
    public private(set) var mask: [Bool] = []
    /// How many steps are observed in part only (some components NaN, not all).
    public private(set) var partialCount = 0

    /// An empty sequence of m-component observations.
    public init(dimension: Int) {
        precondition(dimension > 0, "observations need at least one component")
        self.dimension = dimension
    }

    /// A sequence from rows; nil marks a masked step, a NaN a missing component.
    public init(dimension: Int, rows: [[Double]?]) {
        self.init(dimension: dimension)
        reserveCapacity(rows.count)
        for row in rows { append(row) }
    }

    /// T, the number of steps.
    public var count: Int { mask.count }
    /// Whether there are no steps.
    public var isEmpty: Bool { mask.isEmpty }
    /// How many steps are masked.
    public var maskedCount: Int { mask.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Reserves room for `steps` more steps.
    public mutating func reserveCapacity(_ steps: Int) {
        values.reserveCapacity(values.count + steps * dimension)
        mask.reserveCapacity(mask.count + steps)
    }

    /// Appends one step: its m values (NaN where a component is missing), or nil when masked.
    /// A row with every component NaN is a masked step.
    public mutating func append(_ row: [Double]?) {
        guard let row else { return appendMasked() }
        precondition(row.count == dimension, "observation has \(row.count) components, expected \(dimension)")
        let missing = row.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        if missing == dimension { return appendMasked() }
        values.append(contentsOf: row)
        mask.append(false)
        if missing > 0 { partialCount += 1 }
    }

    /// Whether step t's component i is observed.
    public func isObserved(_ t: Int, component i: Int) -> Bool { !values[t * dimension + i].isNaN }

    /// Whether step t is observed in part only (some components missing, not all).
    public func isPartial(_ t: Int) -> Bool {
        !mask[t] && values[(t * dimension)..<((t + 1) * dimension)].contains(where: \.isNaN)
    }

    /// Appends a masked step.
    public mutating func appendMasked() {
        values.append(contentsOf: repeatElement(.nan, count: dimension))
        mask.append(true)
    }

    /// The observation at step t (NaN where a component is missing), or nil when masked.
    public subscript(t: Int) -> [Double]? {
        mask[t] ? nil : Array(values[(t * dimension)..<((t + 1) * dimension)])
    }

    /// Steps `range` as a sequence of their own.
    public func slice(_ range: Range<Int>) -> ObservationSequence {
        var result = ObservationSequence(dimension: dimension)
        result.values = Array(values[(range.lowerBound * dimension)..<(range.upperBound * dimension)])
        result.mask = Array(mask[range])
        result.partialCount = partialCount == 0 ? 0 : range.reduce(0) { $0 + (isPartial($1) ? 1 : 0) }
        return result
    }
}

/// T state means (n each) and covariances (n×n each), stored flat.
public struct StateTrajectory: Equatable, Sendable {
    /// n, the state dimension.
    public let dimension: Int
    /// Means, row-major T×n.
    public internal(set) var means: [Double]
    /// Covariances, T blocks of n×n, each row-major.
    public internal(set) var covariances: [Double]

    /// A trajectory of `count` zero states.
    public init(dimension: Int, count: Int) {
        self.dimension = dimension
        means = [Double](repeating: 0, count: count * dimension)
        covariances = [Double](repeating: 0, count: count * dimension * dimension)
    }

    /// T, the number of steps.
    public var count: Int { dimension == 0 ? 0 : means.count / dimension }

    /// The mean at step t.
    public func mean(at t: Int) -> [Double] { Array(means[(t * dimension)..<((t + 1) * dimension)]) }

    /// The covariance at step t.
    public func covariance(at t: Int) -> Matrix {
        let size = dimension * dimension
        return Matrix(rows: dimension, columns: dimension, elements: Array(covariances[(t * size)..<((t + 1) * size)]))
    }
}
