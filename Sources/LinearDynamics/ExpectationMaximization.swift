/// Which of the six parameters an EM fit re-estimates.
public struct FittedParameters: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// D, the dynamics.
    public static let transition = FittedParameters(rawValue: 1 << 0)
    /// Q, the process noise covariance.
    public static let transitionCovariance = FittedParameters(rawValue: 1 << 1)
    /// H, the observation matrix.
    public static let observation = FittedParameters(rawValue: 1 << 2)
    /// R, the observation noise covariance.
    public static let observationCovariance = FittedParameters(rawValue: 1 << 3)
    /// mu_0, the initial mean.
    public static let initialMean = FittedParameters(rawValue: 1 << 4)
    /// sigma_0, the initial covariance.
    public static let initialCovariance = FittedParameters(rawValue: 1 << 5)
    /// All six.
    public static let all: FittedParameters = [.transition, .transitionCovariance, .observation,
                                               .observationCovariance, .initialMean, .initialCovariance]

    /// The MODEL.md names, in the order EM updates them.
    public static let names: [(name: String, member: FittedParameters)] = [
        ("H", .observation), ("R", .observationCovariance), ("D", .transition),
        ("Q", .transitionCovariance), ("mu_0", .initialMean), ("sigma_0", .initialCovariance),
    ]

    /// Parses a comma-separated list of names such as `D,Q,H,R`; nil names the unknown one.
    public init(names list: String) throws(ParameterError) {
        var result: FittedParameters = []
        for raw in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = raw.trimmingSpaces
            guard let entry = Self.names.first(where: { $0.name == name }) else {
                throw ParameterError(name.isEmpty ? "(empty)" : name,
                                     "is not a parameter name (expected some of D, Q, H, R, mu_0, sigma_0)")
            }
            result.insert(entry.member)
        }
        self = result
    }

    /// The names of the members, in MODEL.md's order (D, Q, H, R, mu_0, sigma_0).
    public var memberNames: [String] {
        ["D", "Q", "H", "R", "mu_0", "sigma_0"].filter { name in contains(Self.names.first { $0.name == name }!.member) }
    }

    public var description: String { memberNames.joined(separator: ",") }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

/// How an EM fit runs and when it stops.
public struct EMConfiguration: Sendable {
    /// The parameters to re-estimate; the others stay as given.
    public var fitting: FittedParameters
    /// The most iterations to run.
    public var maximumIterations: Int
    /// Stop early once an iteration improves the log-likelihood by less than this; nil runs
    /// every iteration.
    public var tolerance: Double?
    /// How each sequence's state starts (MODEL.md, "Start rule"). With `.diffuse`, mu_0 and
    /// sigma_0 play no part and cannot be fitted; with `.firstSample`, mu_0 cannot.
    public var start: StartRule

    /// A configuration fitting `fitting` for at most `maximumIterations`, optionally to `tolerance`.
    public init(fitting: FittedParameters, maximumIterations: Int, tolerance: Double? = nil, start: StartRule = .parameters) {
        self.fitting = fitting
        self.maximumIterations = maximumIterations
        self.tolerance = tolerance
        self.start = start
    }

    /// Why this configuration cannot run, or nil.
    public var problem: String? {
        switch start {
        case .diffuse where !fitting.isDisjoint(with: [.initialMean, .initialCovariance]):
            "mu_0 and sigma_0 cannot be fitted with the diffuse start rule (it assumes nothing about the first state); fit D, Q, H, R only, or use the params start rule"
        case .firstSample where fitting.contains(.initialMean):
            "mu_0 cannot be fitted with the first-sample start rule (each sequence starts at its first observed sample); leave mu_0 out, or use the params start rule"
        default: nil
        }
    }
}

/// What an EM fit produced.
public struct EMResult: Equatable, Sendable {
    /// The fitted parameters.
    public var parameters: ModelParameters
    /// The data's log-likelihood before iteration 1, then after each iteration.
    public var logLikelihoods: [Double]
    /// Iterations run.
    public var iterations: Int { logLikelihoods.count - 1 }
    /// Whether the fit stopped because an iteration improved by less than the tolerance.
    public var converged: Bool
    /// The iteration whose update lowered the log-likelihood beyond rounding (a loss of
    /// precision, e.g. with huge coordinates), if any: the fit stopped there and kept the
    /// parameters before it, so `parameters` always scores `logLikelihoods.last`.
    public var decreasedAt: Int? = nil
    /// With the diffuse start rule, how many sequences were left out of the fit because their
    /// state is never identified (too few observed steps, e.g. one sample of a state with velocity).
    public var unidentifiedSequences = 0
}

/// Why an EM fit stopped without a result.
public enum EMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The filter failed in the E-step of this iteration (1-based; 0 is the initial pass) on
    /// this sequence (0-based index into the sequences given, empty ones included).
    case filter(iteration: Int, sequence: Int, KalmanError)
    /// The M-step produced parameters that are not valid (for example R not positive definite).
    case invalidUpdate(iteration: Int, ParameterError)
    /// There is nothing to fit.
    case noData
    /// The configuration cannot run (see `EMConfiguration.problem`).
    case configuration(String)

    public var description: String {
        switch self {
        case .filter(let iteration, let sequence, let error):
            "EM iteration \(iteration), sequence \(sequence + 1): \(error)"
        case .invalidUpdate(let iteration, let error):
            "EM iteration \(iteration) produced invalid parameters: \(error)"
        case .noData:
            "EM needs at least one non-empty sequence"
        case .configuration(let problem):
            "EM cannot run: \(problem)"
        }
    }
}

extension ModelParameters {
    /// Fits parameters by expectation–maximisation over one or several sequences (MODEL.md).
    ///
    /// Each iteration smooths every sequence with the current parameters, then re-estimates
    /// the chosen parameters in MODEL.md's order (H, R, D, Q, mu_0, sigma_0), each with the
    /// newest values of those before it. Sums run over all sequences; a sequence boundary is
    /// not a transition. A parameter with nothing to learn from (H and R with no observed
    /// step, D and Q with no transition) keeps its value.
    /// - Parameter progress: called after each iteration kept, with its number and log-likelihood
    ///   (not for an iteration that lowered the likelihood: the fit stops before it, see `decreasedAt`).
    public func fitEM(
        to sequences: [ObservationSequence], configuration: EMConfiguration,
        progress: (_ iteration: Int, _ logLikelihood: Double) -> Void = { _, _ in }
    ) throws(EMError) -> EMResult {
        if let problem = configuration.problem { throw .configuration(problem) }
        // Empty sequences carry nothing (not even a first state); errors name the given index.
        // Unless the state starts at mu_0, a sequence starts at its first observed step: the
        // masked steps before it carry nothing about the parameters.
        let firstSteps = sequences.map { sequence in
            configuration.start == .parameters ? 0 : (sequence.mask.firstIndex(of: false) ?? sequence.count)
        }
        var given = sequences.indices.filter { firstSteps[$0] < sequences[$0].count }
        // A diffuse start that the data never identify has no finite moments: such a sequence is
        // left out (counted in the result), judged once under the starting parameters.
        let identifiable = given.filter { configuration.start != .diffuse || identifies(sequences[$0]) }
        let unidentified = given.count - identifiable.count
        given = identifiable
        let sequences = given.map { firstSteps[$0] == 0 ? sequences[$0] : sequences[$0].slice(firstSteps[$0]..<sequences[$0].count) }
        guard !sequences.isEmpty else { throw EMError.noData }
        do {
            var result = try fitEMNonEmpty(sequences, configuration: configuration, progress: progress)
            result.unidentifiedSequences = unidentified
            return result
        } catch .filter(let iteration, let index, let error) {
            throw .filter(iteration: iteration, sequence: given[index], error)
        }
    }

    private func fitEMNonEmpty(
        _ sequences: [ObservationSequence], configuration: EMConfiguration,
        progress: (_ iteration: Int, _ logLikelihood: Double) -> Void
    ) throws(EMError) -> EMResult {
        var current = self
        var smoothed = try current.smoothAll(sequences, start: configuration.start, iteration: 0)
        var logLikelihoods = [smoothed.reduce(0) { $0 + $1.filter.logLikelihood }]
        var converged = false
        for iteration in stride(from: 1, through: configuration.maximumIterations, by: 1) {
            let before = current
            current = current.maximized(over: sequences, smoothed: smoothed, fitting: configuration.fitting)
            do { try current.validate() } catch { throw .invalidUpdate(iteration: iteration, error) }
            let logLikelihood: Double
            if iteration == configuration.maximumIterations {
                logLikelihood = try current.totalLogLikelihood(sequences, start: configuration.start, iteration: iteration)
            } else {
                smoothed = try current.smoothAll(sequences, start: configuration.start, iteration: iteration)
                logLikelihood = smoothed.reduce(0) { $0 + $1.filter.logLikelihood }
            }
            let improvement = logLikelihood - logLikelihoods[logLikelihoods.count - 1]
            if improvement < -Self.decreaseTolerance * max(1, abs(logLikelihoods[logLikelihoods.count - 1])) {
                return EMResult(parameters: before, logLikelihoods: logLikelihoods, converged: false, decreasedAt: iteration)
            }
            progress(iteration, logLikelihood)
            logLikelihoods.append(logLikelihood)
            if let tolerance = configuration.tolerance, improvement < tolerance {
                converged = true
                break
            }
        }
        return EMResult(parameters: current, logLikelihoods: logLikelihoods, converged: converged)
    }

    /// Whether a diffuse start is identified somewhere in this sequence (stops at the first step that is).
    func identifies(_ sequence: ObservationSequence) -> Bool {
        var online = OnlineKalmanFilter(parameters: self, start: .diffuse)
        for t in 0..<sequence.count {
            online.predictOnlyOrStep(sequence, t)
            if online.hasEstimate { return true }
        }
        return false
    }

    /// A fall of the log-likelihood larger than this, relative to its size, is not rounding.
    static let decreaseTolerance = 1e-9

    private func smoothAll(_ sequences: [ObservationSequence], start: StartRule, iteration: Int) throws(EMError) -> [SmootherResult] {
        var results: [SmootherResult] = []
        results.reserveCapacity(sequences.count)
        for (index, sequence) in sequences.enumerated() {
            do { results.append(try smooth(sequence, start: start)) } catch { throw .filter(iteration: iteration, sequence: index, error) }
        }
        return results
    }

    private func totalLogLikelihood(_ sequences: [ObservationSequence], start: StartRule, iteration: Int) throws(EMError) -> Double {
        var total = 0.0
        for (index, sequence) in sequences.enumerated() {
            do { total += try logLikelihood(of: sequence, start: start) } catch { throw .filter(iteration: iteration, sequence: index, error) }
        }
        return total
    }

    /// The M-step: new values for the fitted parameters, the others unchanged.
    func maximized(over sequences: [ObservationSequence], smoothed: [SmootherResult], fitting: FittedParameters) -> ModelParameters {
        var next = self
        var statistics = SufficientStatistics(n: stateDimension, m: observationDimension)
        if fitting.contains(.observation) {
            statistics.accumulateObservationMoments(sequences, smoothed)
            if statistics.observedSteps > 0 {
                next.observation = statistics.observationCross * SymmetricEigen(statistics.observedStateMoment).pseudoInverse
            }
        }
        if fitting.contains(.observationCovariance) {
            if let covariance = statistics.observationResidualCovariance(sequences, smoothed, observation: next.observation) {
                next.observationCovariance = covariance
            }
        }
        if fitting.contains(.transition) {
            statistics.accumulateTransitionMoments(smoothed)
            if statistics.transitions > 0 {
                next.transition = statistics.transitionCross * SymmetricEigen(statistics.previousStateMoment).pseudoInverse
            }
        }
        if fitting.contains(.transitionCovariance) {
            if let covariance = statistics.transitionResidualCovariance(smoothed, transition: next.transition) {
                next.transitionCovariance = covariance
            }
        }
        let n = stateDimension, k = Double(smoothed.count)
        if fitting.contains(.initialMean) {
            var mean = [Double](repeating: 0, count: n)
            for result in smoothed { for i in 0..<n { mean[i] += result.smoothed.means[i] } }
            next.initialMean = mean.map { $0 / k }
        }
        if fitting.contains(.initialCovariance) {
            var covariance = Matrix(rows: n, columns: n)
            for result in smoothed {
                let first = result.smoothed.mean(at: 0), firstCovariance = result.smoothed.covariance(at: 0)
                // The course's rule starts each sequence at its own first sample, not at mu_0.
                let start = result.filter.start == .firstSample ? result.filter.predicted.mean(at: 0) : next.initialMean
                for i in 0..<n {
                    for j in 0..<n {
                        covariance[i, j] += firstCovariance[i, j]
                            + (first[i] - start[i]) * (first[j] - start[j])
                    }
                }
            }
            next.initialCovariance = ((1 / k) * covariance).symmetrized
        }
        return next
    }
}

/// Sums over all sequences that the M-step turns into new parameters.
struct SufficientStatistics {
    let n: Int, m: Int
    /// Σ_{t∈O} m_t mu_s_tᵀ (m×n) and Σ_{t∈O} P_t (n×n), over observed steps.
    var observationCross: Matrix, observedStateMoment: Matrix
    var observedSteps = 0
    /// Σ_{t≥1} (V_{t,t-1} + mu_s_t mu_s_{t-1}ᵀ) and Σ_{t≥1} P_{t-1}.
    var transitionCross: Matrix, previousStateMoment: Matrix
    var transitions = 0

    init(n: Int, m: Int) {
        self.n = n
        self.m = m
        observationCross = Matrix(rows: m, columns: n)
        observedStateMoment = Matrix(rows: n, columns: n)
        transitionCross = Matrix(rows: n, columns: n)
        previousStateMoment = Matrix(rows: n, columns: n)
    }

    mutating func accumulateObservationMoments(_ sequences: [ObservationSequence], _ smoothed: [SmootherResult]) {
        let n = self.n, m = self.m
        var cross = observationCross.elements, moment = observedStateMoment.elements, observed = 0
        for (sequence, result) in zip(sequences, smoothed) {
            sequence.values.withUnsafeBufferPointer { y in
            result.smoothed.means.withUnsafeBufferPointer { mu in
            result.smoothed.covariances.withUnsafeBufferPointer { sigma in
                for t in 0..<sequence.count where !sequence.mask[t] {
                    observed += 1
                    for i in 0..<m { for j in 0..<n { cross[i * n + j] += y[t * m + i] * mu[t * n + j] } }
                    for i in 0..<n {
                        for j in 0..<n { moment[i * n + j] += sigma[t * n * n + i * n + j] + mu[t * n + i] * mu[t * n + j] }
                    }
                }
            }}}
        }
        observationCross.elements = cross
        observedStateMoment.elements = moment
        observedSteps = observed
    }

    /// 1/|O| Σ_{t∈O} [(m_t - H mu_s_t)(m_t - H mu_s_t)ᵀ + H Σ_s_t Hᵀ], nil with no observed step.
    func observationResidualCovariance(_ sequences: [ObservationSequence], _ smoothed: [SmootherResult], observation h: Matrix) -> Matrix? {
        let n = self.n, m = self.m
        var residualSum = [Double](repeating: 0, count: m * m)
        var covarianceSum = [Double](repeating: 0, count: n * n)
        var observed = 0
        var residual = [Double](repeating: 0, count: m)
        for (sequence, result) in zip(sequences, smoothed) {
            sequence.values.withUnsafeBufferPointer { y in
            result.smoothed.means.withUnsafeBufferPointer { mu in
            result.smoothed.covariances.withUnsafeBufferPointer { sigma in
            h.elements.withUnsafeBufferPointer { h in
                for t in 0..<sequence.count where !sequence.mask[t] {
                    observed += 1
                    for i in 0..<m {
                        var predicted = 0.0
                        for j in 0..<n { predicted += h[i * n + j] * mu[t * n + j] }
                        residual[i] = y[t * m + i] - predicted
                    }
                    for i in 0..<m { for j in 0..<m { residualSum[i * m + j] += residual[i] * residual[j] } }
                    for i in 0..<(n * n) { covarianceSum[i] += sigma[t * n * n + i] }
                }
            }}}}
        }
        guard observed > 0 else { return nil }
        let sigmaSum = Matrix(rows: n, columns: n, elements: covarianceSum)
        let total = Matrix(rows: m, columns: m, elements: residualSum) + h * sigmaSum * h.transposed
        return ((1 / Double(observed)) * total).symmetrized
    }

    mutating func accumulateTransitionMoments(_ smoothed: [SmootherResult]) {
        let n = self.n, size = n * n
        var cross = transitionCross.elements, moment = previousStateMoment.elements, count = 0
        for result in smoothed where result.smoothed.count > 1 {
            result.smoothed.means.withUnsafeBufferPointer { mu in
            result.smoothed.covariances.withUnsafeBufferPointer { sigma in
            result.lagOneCovariances.withUnsafeBufferPointer { v in
                for t in 1..<result.smoothed.count {
                    count += 1
                    for i in 0..<n {
                        for j in 0..<n {
                            cross[i * n + j] += v[t * size + i * n + j] + mu[t * n + i] * mu[(t - 1) * n + j]
                            moment[i * n + j] += sigma[(t - 1) * size + i * n + j] + mu[(t - 1) * n + i] * mu[(t - 1) * n + j]
                        }
                    }
                }
            }}}
        }
        transitionCross.elements = cross
        previousStateMoment.elements = moment
        transitions = count
    }

    /// 1/Σ(T_k-1) Σ_t [e eᵀ + D Σ_s_t Dᵀ + Σ_s_{t+1} - V_{t+1,t} Dᵀ - D V_{t+1,t}ᵀ], nil with no transition.
    func transitionResidualCovariance(_ smoothed: [SmootherResult], transition d: Matrix) -> Matrix? {
        let n = self.n, size = n * n
        var residualSum = [Double](repeating: 0, count: size)
        var previousSum = [Double](repeating: 0, count: size)   // Σ Σ_s_t over t = 0..T-2
        var nextSum = [Double](repeating: 0, count: size)       // Σ Σ_s_{t+1}
        var lagSum = [Double](repeating: 0, count: size)        // Σ V_{t+1,t}
        var residual = [Double](repeating: 0, count: n)
        var count = 0
        for result in smoothed where result.smoothed.count > 1 {
            result.smoothed.means.withUnsafeBufferPointer { mu in
            result.smoothed.covariances.withUnsafeBufferPointer { sigma in
            result.lagOneCovariances.withUnsafeBufferPointer { v in
            d.elements.withUnsafeBufferPointer { d in
                for t in 0..<(result.smoothed.count - 1) {
                    count += 1
                    for i in 0..<n {
                        var predicted = 0.0
                        for j in 0..<n { predicted += d[i * n + j] * mu[t * n + j] }
                        residual[i] = mu[(t + 1) * n + i] - predicted
                    }
                    for i in 0..<n { for j in 0..<n { residualSum[i * n + j] += residual[i] * residual[j] } }
                    for i in 0..<size {
                        previousSum[i] += sigma[t * size + i]
                        nextSum[i] += sigma[(t + 1) * size + i]
                        lagSum[i] += v[(t + 1) * size + i]
                    }
                }
            }}}}
        }
        guard count > 0 else { return nil }
        let lag = Matrix(rows: n, columns: n, elements: lagSum) * d.transposed
        let total = Matrix(rows: n, columns: n, elements: residualSum)
            + d * Matrix(rows: n, columns: n, elements: previousSum) * d.transposed
            + Matrix(rows: n, columns: n, elements: nextSum) - lag - lag.transposed
        return ((1 / Double(count)) * total).symmetrized
    }
}
