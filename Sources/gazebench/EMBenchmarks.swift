import LinearDynamics

/// EM to convergence on an hour of simulated gaze (issue 8): plain against SQUAREM, the E-step
/// on one core against all, and the steady-state saving against the full computation, in one run.
enum EMBenchmarks {
    /// The model: n = 2, D = H = I, Q = [[4,1],[1,4]], R = [[50,10],[10,60]].
    static let truth = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 4]])!, observation: .identity(2),
        observationCovariance: Matrix(nestedRows: [[50, 10], [10, 60]])!, initialMean: [960, 540], initialCovariance: Matrix(rows: 2, columns: 2))

    /// `samples` samples of 250 Hz gaze in 8-second trials, each starting at a random point of a
    /// 1920×1080 screen, with a blink (25 masked samples, 100 ms) about every 4 s.
    static func trials(samples: Int, seed: UInt64) -> [ObservationSequence] {
        var generator = SeededGenerator(seed: seed)
        var model = truth
        var result: [ObservationSequence] = []
        var remaining = samples
        while remaining > 0 {
            let steps = min(2000, remaining)
            remaining -= steps
            model.initialMean = [1920 * generator.nextUniform(), 1080 * generator.nextUniform()]
            let sampled = model.sample(steps: steps, using: &generator).observations
            var sequence = ObservationSequence(dimension: 2)
            var blink = 0
            for t in 0..<steps {
                if blink == 0 && generator.nextUniform() < 1.0 / 1000 { blink = 25 }
                if blink > 0 { blink -= 1; sequence.appendMasked() } else { sequence.append(sampled[t]) }
            }
            result.append(sequence)
        }
        return result
    }

    /// Both eyes of the gaze (m = 4, H = [I; I], each eye with R's noise, the eyes'
    /// noise correlated), as `trials` gives it, with one eye lost for 20 to 100 ms about every
    /// second (about 6% of the samples partly observed).
    static func binocularTrials(samples: Int, seed: UInt64) -> (ModelParameters, [ObservationSequence]) {
        var model = truth
        model.observation = Matrix(nestedRows: [[1, 0], [0, 1], [1, 0], [0, 1]])!
        model.observationCovariance = Matrix(nestedRows: [[50, 10, 15, 0], [10, 60, 0, 15], [15, 0, 50, 10], [0, 15, 10, 60]])!
        var generator = SeededGenerator(seed: seed)
        var result: [ObservationSequence] = []
        var remaining = samples
        while remaining > 0 {
            let steps = min(2000, remaining)
            remaining -= steps
            model.initialMean = [1920 * generator.nextUniform(), 1080 * generator.nextUniform()]
            let sampled = model.sample(steps: steps, using: &generator).observations
            var sequence = ObservationSequence(dimension: 4)
            var lost = 0, eye = 0
            for t in 0..<steps {
                if lost == 0 && generator.nextUniform() < 1.0 / 250 { lost = 5 + Int(generator.nextUniform() * 20); eye = generator.nextUniform() < 0.5 ? 0 : 2 }
                var row = sampled[t]!
                if lost > 0 { lost -= 1; row[eye] = .nan; row[eye + 1] = .nan }
                sequence.append(row)
            }
            result.append(sequence)
        }
        return (model, result)
    }

    /// Prints `key value` lines: iterations, E-steps, seconds and the log-likelihood per sample
    /// reached, for plain EM and SQUAREM, both to the same stopping rule, from the same start.
    static func run(samples: Int, tolerancePerSample: Double, maximumIterations: Int) {
        let data = trials(samples: samples, seed: 3)
        var start = truth
        start.transitionCovariance = .identity(2)
        start.observationCovariance = .diagonal([20, 20])
        let fitting: FittedParameters = [.transition, .transitionCovariance, .observation, .observationCovariance]
        print("em_hour_samples \(samples)")
        print("em_hour_sequences \(data.count)")
        // One E-step on one core, full and with the steady-state saving, then on every core.
        for (name, workers, reuse) in [("estep_seconds_1core_full", 1, false), ("estep_seconds_1core", 1, true), ("estep_seconds", nil as Int?, true)] {
            let configuration = EMConfiguration(fitting: fitting, maximumIterations: 0, start: .diffuse, workers: workers, reuseSteadyState: reuse)
            let elapsed = bestOf(3) { sink += (try? start.fitEM(to: data, configuration: configuration))?.logLikelihoods[0] ?? 0 }
            print("em_hour_\(name) \(elapsed / 1e9)")
        }
        // The same hour seen by both eyes, one eye now and then lost: one E-step on every core.
        let (binocular, binocularData) = binocularTrials(samples: samples, seed: 4)
        print("em_hour_binocular_partly_observed \(binocularData.reduce(0) { $0 + $1.partialCount })")
        let binocularConfiguration = EMConfiguration(fitting: fitting, maximumIterations: 0, start: .diffuse)
        let binocularElapsed = bestOf(3) { sink += (try? binocular.fitEM(to: binocularData, configuration: binocularConfiguration))?.logLikelihoods[0] ?? 0 }
        print("em_hour_binocular_estep_seconds \(binocularElapsed / 1e9)")
        for acceleration in [EMAcceleration.squarem, .none] {
            let configuration = EMConfiguration(fitting: fitting, maximumIterations: maximumIterations, tolerancePerSample: tolerancePerSample,
                                                start: .diffuse, acceleration: acceleration)
            let begin = nowNanoseconds()
            guard let result = try? start.fitEM(to: data, configuration: configuration) else {
                print("em_hour_\(acceleration.rawValue)_failed 1")
                continue
            }
            let seconds = Double(nowNanoseconds() - begin) / 1e9
            let name = acceleration == .none ? "plain" : acceleration.rawValue
            print("em_hour_\(name)_iterations \(result.iterations)")
            print("em_hour_\(name)_evaluations \(result.evaluations)")
            print("em_hour_\(name)_converged \(result.converged ? 1 : 0)")
            print("em_hour_\(name)_seconds \(seconds)")
            print("em_hour_\(name)_seconds_per_iteration \(seconds / Double(max(result.iterations, 1)))")
            print("em_hour_\(name)_loglik_per_sample \(result.logLikelihoodPerSample)")
            let q = result.parameters.transitionCovariance
            print("em_hour_\(name)_q \(q[0, 0]) \(q[0, 1]) \(q[1, 1])")
        }
    }
}
