/// Which of the parameters an EM fit re-estimates: the six of the model and the offsets b and d.
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
    /// b, the transition offset (fitted as one constant vector, as pykalman does).
    public static let transitionOffset = FittedParameters(rawValue: 1 << 6)
    /// d, the observation offset.
    public static let observationOffset = FittedParameters(rawValue: 1 << 7)
    /// The six parameters of the model without offsets.
    public static let all: FittedParameters = [.transition, .transitionCovariance, .observation,
                                               .observationCovariance, .initialMean, .initialCovariance]

    /// The MODEL.md names, in the order EM updates them (pykalman's order).
    public static let names: [(name: String, member: FittedParameters)] = [
        ("H", .observation), ("R", .observationCovariance), ("D", .transition),
        ("Q", .transitionCovariance), ("mu_0", .initialMean), ("sigma_0", .initialCovariance),
        ("b", .transitionOffset), ("d", .observationOffset),
    ]

    /// Parses a comma-separated list of names such as `D,Q,H,R`; nil names the unknown one.
    public init(names list: String) throws(ParameterError) {
        var result: FittedParameters = []
        for raw in list.split(separator: ",", omittingEmptySubsequences: false) {
            let name = raw.trimmingSpaces
            guard let entry = Self.names.first(where: { $0.name == name }) else {
                throw ParameterError(name.isEmpty ? "(empty)" : name,
                                     "is not a parameter name (expected some of D, Q, H, R, mu_0, sigma_0, b, d)")
            }
            result.insert(entry.member)
        }
        self = result
    }

    /// The names of the members, in MODEL.md's order (D, Q, H, R, mu_0, sigma_0, b, d).
    public var memberNames: [String] {
        ["D", "Q", "H", "R", "mu_0", "sigma_0", "b", "d"].filter { name in contains(Self.names.first { $0.name == name }!.member) }
    }

    public var description: String { memberNames.joined(separator: ",") }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

/// How EM moves from one parameter set to the next.
public enum EMAcceleration: String, Sendable, Equatable, CaseIterable {
    /// One plain EM update per iteration (pykalman's `em`; reproduces its per-iteration numbers).
    case none
    /// SQUAREM (Varadhan & Roland 2008, scheme S3): two EM updates give a direction and a step
    /// length; the extrapolated point is kept only when its parameters are valid and it does not
    /// lower the log-likelihood, otherwise the step is shortened back to the plain EM point.
    case squarem
}

/// How an EM fit runs and when it stops.
public struct EMConfiguration: Sendable {
    /// The parameters to re-estimate; the others stay as given.
    public var fitting: FittedParameters
    /// The most iterations to run.
    public var maximumIterations: Int
    /// Stop early once an iteration improves the log-likelihood by less than this (in nats, in
    /// total); nil runs every iteration unless `tolerancePerSample` stops it.
    public var tolerance: Double?
    /// Stop, converged, once the log-likelihood per observed sample is within this of its maximum
    /// by the rule of MODEL.md ("EM", stopping): the last gain per observed sample and the gain
    /// still to come, extrapolated from the last two gains, are both below it. 1e-7 nats/sample
    /// is a good value. nil: no such rule.
    public var tolerancePerSample: Double?
    /// How each sequence's state starts (MODEL.md, "Start rule"). With `.diffuse`, mu_0 and
    /// sigma_0 play no part and cannot be fitted; with `.firstSample`, mu_0 cannot.
    public var start: StartRule
    /// Plain EM or SQUAREM.
    public var acceleration: EMAcceleration
    /// Threads for the E-step (sequences run concurrently); nil uses every core.
    public var workers: Int?
    /// Whether the E-step reuses settled covariances and gains (exact to about 1e-12; see
    /// MODEL.md "EM"); false computes every step in full.
    public var reuseSteadyState: Bool
    /// Whether D and b (and H and d), when both are fitted, are updated together as one block
    /// (MODEL.md, "EM for b and d"): far from the origin they trade along a narrow ridge that
    /// pykalman's one-after-the-other updates climb very slowly. pykalman's order (false) is
    /// what reproduces its iterations; by default, plain EM keeps it and SQUAREM updates jointly.
    public var jointOffsets: Bool

    /// A configuration fitting `fitting` for at most `maximumIterations`, optionally to a tolerance.
    public init(fitting: FittedParameters, maximumIterations: Int, tolerance: Double? = nil, tolerancePerSample: Double? = nil,
                start: StartRule = .parameters, acceleration: EMAcceleration = .none, workers: Int? = nil, reuseSteadyState: Bool = true,
                jointOffsets: Bool? = nil) {
        self.fitting = fitting
        self.maximumIterations = maximumIterations
        self.tolerance = tolerance
        self.tolerancePerSample = tolerancePerSample
        self.start = start
        self.acceleration = acceleration
        self.workers = workers
        self.reuseSteadyState = reuseSteadyState
        self.jointOffsets = jointOffsets ?? (acceleration == .squarem)
    }

    /// Why this configuration cannot run, or nil.
    public var problem: String? {
        if let tolerance = tolerancePerSample, !(tolerance > 0 && tolerance.isFinite) {
            return "the tolerance per sample must be a positive number, not \(tolerance)"
        }
        if let workers, workers < 1 { return "the number of workers must be at least 1, not \(workers)" }
        switch start {
        case .diffuse where !fitting.isDisjoint(with: [.initialMean, .initialCovariance]):
            return "mu_0 and sigma_0 cannot be fitted with the diffuse start rule (it assumes nothing about the first state); fit D, Q, H, R only, or use the params start rule"
        case .firstSample where fitting.contains(.initialMean):
            return "mu_0 cannot be fitted with the first-sample start rule (each sequence starts at its first observed sample); leave mu_0 out, or use the params start rule"
        default: return nil
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
    /// Whether the fit stopped because the stopping rule (`tolerancePerSample`, or `tolerance`) was met.
    public var converged: Bool
    /// The iteration whose update lowered the log-likelihood beyond rounding (a loss of
    /// precision, e.g. with huge coordinates), if any: the fit stopped there and kept the
    /// parameters before it, so `parameters` always scores `logLikelihoods.last`.
    public var decreasedAt: Int? = nil
    /// With the diffuse start rule, how many sequences were left out of the fit because their
    /// state is never identified (too few observed steps, e.g. one sample of a state with velocity).
    public var unidentifiedSequences = 0
    /// Observed steps in the sequences fitted (the "per sample" of the stopping rule).
    public var observedSteps = 0
    /// E-steps run (filter and smoother over all sequences): one per plain iteration, about two
    /// per SQUAREM iteration.
    public var evaluations = 0
    /// SQUAREM iterations whose extrapolated point was refused (invalid, or lower) and shortened.
    public var fallbacks = 0

    /// The last log-likelihood per observed sample.
    public var logLikelihoodPerSample: Double { logLikelihoods.last! / Double(max(observedSteps, 1)) }
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
    /// No sequence identifies the state under the diffuse start rule (part of it is never observed).
    case unidentified
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
        case .unidentified:
            "no sequence identifies the state under the diffuse start rule: part of it is never observed (a column empty throughout?); "
                + "fit with the params start rule, or with a model whose observed components determine the state"
        case .configuration(let problem):
            "EM cannot run: \(problem)"
        }
    }
}

extension ModelParameters {
    /// Fits parameters by expectation–maximisation over one or several sequences (MODEL.md).
    ///
    /// Each EM update smooths every sequence with the current parameters, then re-estimates
    /// the chosen parameters in MODEL.md's order (H, R, D, Q, mu_0, sigma_0), each with the
    /// newest values of those before it. Sums run over all sequences; a sequence boundary is
    /// not a transition. A parameter with nothing to learn from (H and R with no observed
    /// step, D and Q with no transition) keeps its value. The log-likelihood never decreases
    /// from one iteration to the next (plain and accelerated alike).
    /// - Parameter progress: called after each iteration kept, with its number and log-likelihood
    ///   (not for an iteration that lowered the likelihood: the fit stops before it, see `decreasedAt`).
    public func fitEM(
        to sequences: [ObservationSequence], configuration: EMConfiguration,
        progress: (_ iteration: Int, _ logLikelihood: Double) -> Void = { _, _ in }
    ) throws(EMError) -> EMResult {
        if let problem = configuration.problem { throw .configuration(problem) }
        // Empty sequences carry nothing (not even a first state); errors name the given index.
        // Unless the state starts at mu_0, a sequence starts where its state does: the first step
        // with an observed component (diffuse), or with every component observed (the course's
        // rule); the masked steps before it carry nothing about the parameters.
        let firstSteps = sequences.map { sequence in
            switch configuration.start {
            case .parameters: 0
            case .diffuse: sequence.mask.firstIndex(of: false) ?? sequence.count
            case .firstSample: (0..<sequence.count).first { !sequence.mask[$0] && !sequence.isPartial($0) } ?? sequence.count
            }
        }
        if let offsets = transitionOffsets, let k = sequences.indices.first(where: { sequences[$0].count > offsets.rows + 1 }) {
            throw .configuration("sequence \(k + 1) has \(sequences[k].count) steps but there are \(offsets.rows) per-step transition offsets (one per transition, \(sequences[k].count - 1) needed)")
        }
        var given = sequences.indices.filter { firstSteps[$0] < sequences[$0].count }
        // A diffuse start that the data never identify has no finite moments: such a sequence is
        // left out (counted in the result), judged once under the starting parameters.
        let identifiable = given.filter { configuration.start != .diffuse || identifies(sequences[$0]) }
        let unidentified = given.count - identifiable.count
        given = identifiable
        let fitted = given.map { firstSteps[$0] == 0 ? sequences[$0] : sequences[$0].slice(firstSteps[$0]..<sequences[$0].count) }
        guard !fitted.isEmpty else {
            throw unidentified > 0 ? EMError.unidentified : EMError.noData
        }
        do {
            var run = EMRun(sequences: fitted, firstSteps: given.map { firstSteps[$0] }, configuration: configuration,
                            shift: StatisticsShift(fitted, observation: observation, offset: observationOffset))
            var result = try configuration.acceleration == .none
                ? run.plain(from: self, progress: progress) : run.squarem(from: self, progress: progress)
            result.unidentifiedSequences = unidentified
            return result
        } catch .filter(let iteration, let index, let error) {
            throw .filter(iteration: iteration, sequence: given[index], error)
        }
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

    /// Why an EM iteration can lower the log-likelihood (`EMResult.decreasedAt`), for messages.
    public static let decreaseCauses = "with the diffuse start, a part of the state is identified late, e.g. a column empty at first "
        + "(MODEL.md, \"Start rule\"; --start params avoids it); else a loss of precision, e.g. with huge coordinates"
}

/// One EM fit in progress: the sequences, the E-step's storage, and the two ways of iterating.
struct EMRun {
    let sequences: [ObservationSequence]
    /// Where each sequence starts in the sequence given (it aligns per-step transition offsets).
    let firstSteps: [Int]
    let configuration: EMConfiguration
    let shift: StatisticsShift
    let workers: Int
    var statistics: [Double] = []
    var evaluations = 0
    var observedSteps = 0

    init(sequences: [ObservationSequence], firstSteps: [Int], configuration: EMConfiguration, shift: StatisticsShift) {
        self.sequences = sequences
        self.firstSteps = firstSteps
        self.configuration = configuration
        self.shift = shift
        workers = configuration.workers ?? processorCount()
    }

    /// An E-step at `parameters`, then the M-step: the data's log-likelihood there and the EM update.
    mutating func evaluate(_ parameters: ModelParameters, iteration: Int) throws(EMError) -> (logLikelihood: Double, next: ModelParameters) {
        let layout = SufficientStatistics.Layout(n: parameters.stateDimension, m: parameters.observationDimension)
        let step = ExpectationStep(parameters: parameters, start: configuration.start, layout: layout, shift: shift,
                                   firstSteps: firstSteps, reuseSteadyState: configuration.reuseSteadyState)
        if statistics.count != sequences.count * layout.count {
            statistics = [Double](repeating: 0, count: sequences.count * layout.count)
        }
        evaluations += 1
        let failure = statistics.withUnsafeMutableBufferPointer { step.run(sequences, workers: workers, into: $0) }
        if let (sequence, error) = failure { throw .filter(iteration: iteration, sequence: sequence, error) }
        // Summed in sequence order: the same bits whatever the threads did.
        var logLikelihood = 0.0, observed = 0.0
        for s in 0..<sequences.count {
            logLikelihood += statistics[s * layout.count + layout.logLikelihood]
            observed += statistics[s * layout.count + layout.observedSteps]
        }
        observedSteps = Int(observed)
        let next = statistics.withUnsafeBufferPointer { blocks in
            parameters.maximized(blocks: blocks.baseAddress!, sequences: sequences.count, layout: layout,
                                 shift: shift, fitting: configuration.fitting, start: configuration.start, jointOffsets: configuration.jointOffsets)
        }
        return (logLikelihood, next)
    }

    /// The stopping rule; `gains` are the improvements of the iterations so far.
    func converged(_ gains: [Double]) -> Bool {
        guard let gain = gains.last else { return false }
        if let tolerance = configuration.tolerance, gain < tolerance { return true }
        guard let perSample = configuration.tolerancePerSample else { return false }
        let samples = Double(max(observedSteps, 1))
        if gain <= 0 || gain / samples < 1e-3 * perSample { return true }  // no progress left within rounding
        return Self.isWithin(perSample * samples, gains[...])
    }

    /// Whether the last of `gains` and the gain still to come are both below `tolerance` (MODEL.md,
    /// "Stopping rule"): the rest extrapolated as for a linearly converging sequence, with the
    /// larger of the last two ratios between gains. SQUAREM's gains come unevenly (a long
    /// extrapolated step, then a short one), and one small gain after a large one is not the end.
    static func isWithin(_ tolerance: Double, _ gains: ArraySlice<Double>) -> Bool {
        guard gains.count >= 3, let gain = gains.last, gain < tolerance else { return false }
        let previous = gains[gains.endIndex - 2], before = gains[gains.endIndex - 3]
        guard previous > 0, before > 0 else { return false }
        let ratio = max(gain / previous, previous / before)
        guard ratio < 1 else { return false }
        return gain * ratio / (1 - ratio) < tolerance
    }

    func result(_ parameters: ModelParameters, _ logLikelihoods: [Double], converged: Bool, decreasedAt: Int? = nil, fallbacks: Int = 0) -> EMResult {
        EMResult(parameters: parameters, logLikelihoods: logLikelihoods, converged: converged, decreasedAt: decreasedAt,
                 observedSteps: observedSteps, evaluations: evaluations, fallbacks: fallbacks)
    }

    /// Plain EM: one update per iteration.
    mutating func plain(from start: ModelParameters, progress: (Int, Double) -> Void) throws(EMError) -> EMResult {
        var current = start
        var (logLikelihood, next) = try evaluate(current, iteration: 0)
        var logLikelihoods = [logLikelihood], gains: [Double] = []
        for iteration in stride(from: 1, through: configuration.maximumIterations, by: 1) {
            do { try next.validate() } catch { throw .invalidUpdate(iteration: iteration, error) }
            let (newLogLikelihood, following) = try evaluate(next, iteration: iteration)
            let gain = newLogLikelihood - logLikelihood
            if gain < -ModelParameters.decreaseTolerance * max(1, abs(logLikelihood)) {
                return result(current, logLikelihoods, converged: false, decreasedAt: iteration)
            }
            (current, logLikelihood, next) = (next, newLogLikelihood, following)
            progress(iteration, logLikelihood)
            logLikelihoods.append(logLikelihood)
            gains.append(gain)
            if converged(gains) { return result(current, logLikelihoods, converged: true) }
        }
        return result(current, logLikelihoods, converged: false)
    }

    /// SQUAREM (scheme S3) with a monotone safeguard: θ1 = M(θ0), θ2 = M(θ1), r = θ1 − θ0,
    /// v = θ2 − 2θ1 + θ0, α = −‖r‖/‖v‖ (at most −1, at least −`stepMaximum`), θ' = θ0 − 2αr + α²v.
    /// θ' is kept when its parameters are valid, its filter runs and its log-likelihood is not
    /// below θ0's; otherwise α moves halfway to −1 (θ' = θ2, a plain double EM step) and is tried again.
    mutating func squarem(from start: ModelParameters, progress: (Int, Double) -> Void) throws(EMError) -> EMResult {
        let fitting = configuration.fitting
        var current = start
        var (logLikelihood, update) = try evaluate(current, iteration: 0)
        var logLikelihoods = [logLikelihood], gains: [Double] = []
        var stepMaximum = 1.0, fallbacks = 0, firstIteration = 1
        if fitting.contains(.transitionOffset) && current.transitionOffsets != nil && configuration.maximumIterations > 0 {
            // Per-step offsets become one fitted b: the first iteration is a plain step, so that
            // the extrapolation starts from a point that has the constant b it moves.
            do { try update.validate() } catch { throw .invalidUpdate(iteration: 1, error) }
            let (plainLogLikelihood, following) = try evaluate(update, iteration: 1)
            if plainLogLikelihood - logLikelihood < -ModelParameters.decreaseTolerance * max(1, abs(logLikelihood)) {
                return result(current, logLikelihoods, converged: false, decreasedAt: 1)
            }
            gains.append(plainLogLikelihood - logLikelihood)
            (current, logLikelihood, update) = (update, plainLogLikelihood, following)
            progress(1, logLikelihood)
            logLikelihoods.append(logLikelihood)
            if converged(gains) { return result(current, logLikelihoods, converged: true) }
            firstIteration = 2
        }
        for iteration in stride(from: firstIteration, through: configuration.maximumIterations, by: 1) {
            let first = update
            do { try first.validate() } catch { throw .invalidUpdate(iteration: iteration, error) }
            let (firstLogLikelihood, second) = try evaluate(first, iteration: iteration)
            if firstLogLikelihood - logLikelihood < -ModelParameters.decreaseTolerance * max(1, abs(logLikelihood)) {
                return result(current, logLikelihoods, converged: false, decreasedAt: iteration, fallbacks: fallbacks)
            }
            let theta0 = current.vector(fitting), theta1 = first.vector(fitting), theta2 = second.vector(fitting)
            let r = zip(theta1, theta0).map(-)
            let v = (0..<r.count).map { theta2[$0] - 2 * theta1[$0] + theta0[$0] }
            let rr = r.reduce(0) { $0 + $1 * $1 }, vv = v.reduce(0) { $0 + $1 * $1 }
            var alpha = vv > 0 ? -(rr / vv).squareRoot() : -1
            alpha = min(-1, max(alpha, -stepMaximum))
            if !alpha.isFinite { alpha = -1 }
            var accepted: (ModelParameters, Double, ModelParameters)?
            var shortened = false
            for attempt in 0..<4 {
                if attempt == 3 { alpha = -1 }
                let candidate: ModelParameters
                if alpha == -1 {
                    candidate = second
                } else {
                    candidate = current.replacing(fitting, with: (0..<r.count).map { theta0[$0] - 2 * alpha * r[$0] + alpha * alpha * v[$0] })
                }
                if alpha != -1 || attempt > 0 || true {
                    if (try? candidate.validate()) != nil {
                        if let (candidateLogLikelihood, candidateUpdate) = try? evaluate(candidate, iteration: iteration),
                           candidateLogLikelihood.isFinite,
                           candidateLogLikelihood >= logLikelihood - ModelParameters.decreaseTolerance * max(1, abs(logLikelihood)) || alpha == -1 {
                            accepted = (candidate, candidateLogLikelihood, candidateUpdate)
                            break
                        }
                    } else if alpha == -1 {
                        // The plain double step is invalid: keep the single one.
                        accepted = (first, firstLogLikelihood, second)
                        break
                    }
                }
                shortened = true
                alpha = (alpha - 1) / 2
                if alpha > -1.01 { alpha = -1 }
            }
            if shortened { fallbacks += 1 }
            if alpha == -stepMaximum && !shortened { stepMaximum *= 4 }
            guard let (next, nextLogLikelihood, nextUpdate) = accepted else {
                accepted = nil
                return result(current, logLikelihoods, converged: false, fallbacks: fallbacks)
            }
            if nextLogLikelihood < logLikelihood - ModelParameters.decreaseTolerance * max(1, abs(logLikelihood)) {
                return result(current, logLikelihoods, converged: false, decreasedAt: iteration, fallbacks: fallbacks)
            }
            gains.append(nextLogLikelihood - logLikelihood)
            (current, logLikelihood, update) = (next, nextLogLikelihood, nextUpdate)
            progress(iteration, logLikelihood)
            logLikelihoods.append(logLikelihood)
            if converged(gains) { return result(current, logLikelihoods, converged: true, fallbacks: fallbacks) }
        }
        return result(current, logLikelihoods, converged: false, fallbacks: fallbacks)
    }
}

extension ModelParameters {
    /// The fitted parameters' entries as one vector (D, Q, H, R, mu_0, sigma_0, b, d order), for SQUAREM.
    func vector(_ fitting: FittedParameters) -> [Double] {
        var result: [Double] = []
        if fitting.contains(.transition) { result += transition.elements }
        if fitting.contains(.transitionCovariance) { result += transitionCovariance.elements }
        if fitting.contains(.observation) { result += observation.elements }
        if fitting.contains(.observationCovariance) { result += observationCovariance.elements }
        if fitting.contains(.initialMean) { result += initialMean }
        if fitting.contains(.initialCovariance) { result += initialCovariance.elements }
        if fitting.contains(.transitionOffset) { result += transitionOffset }
        if fitting.contains(.observationOffset) { result += observationOffset }
        return result
    }

    /// These parameters with the fitted ones read back from `vector` (covariances symmetrised; a
    /// fitted b replaces per-step offsets).
    func replacing(_ fitting: FittedParameters, with vector: [Double]) -> ModelParameters {
        var next = self, offset = 0
        func take(_ count: Int) -> [Double] { defer { offset += count }; return Array(vector[offset..<(offset + count)]) }
        func matrix(_ like: Matrix) -> Matrix { Matrix(rows: like.rows, columns: like.columns, elements: take(like.elements.count)) }
        if fitting.contains(.transition) { next.transition = matrix(transition) }
        if fitting.contains(.transitionCovariance) { next.transitionCovariance = matrix(transitionCovariance).symmetrized }
        if fitting.contains(.observation) { next.observation = matrix(observation) }
        if fitting.contains(.observationCovariance) { next.observationCovariance = matrix(observationCovariance).symmetrized }
        if fitting.contains(.initialMean) { next.initialMean = take(initialMean.count) }
        if fitting.contains(.initialCovariance) { next.initialCovariance = matrix(initialCovariance).symmetrized }
        if fitting.contains(.transitionOffset) { next.transitionOffset = take(transitionOffset.count); next.transitionOffsets = nil }
        if fitting.contains(.observationOffset) { next.observationOffset = take(observationOffset.count) }
        return next
    }
}

/// The number of processors online (at least 1).
func processorCount() -> Int {
    #if canImport(Glibc)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return max(1, Int(sysconf(_SC_NPROCESSORS_ONLN)))
    #endif
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
