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
        var blink = 0
        return trials(of: truth, samples: samples, seed: seed) { generator, t, row in
            if t == 0 { blink = 0 }
            if blink == 0 && generator.nextUniform() < 1.0 / 1000 { blink = 25 }
            if blink > 0 { blink -= 1; return nil }
            return row
        }
    }

    /// Both eyes of the gaze (m = 4, H = [I; I], each eye with R's noise, the eyes'
    /// noise correlated), as `trials` gives it, with one eye lost for 20 to 100 ms about every
    /// second (about 6% of the samples partly observed).
    static func binocularTrials(samples: Int, seed: UInt64) -> (ModelParameters, [ObservationSequence]) {
        var model = truth
        model.observation = Matrix(nestedRows: [[1, 0], [0, 1], [1, 0], [0, 1]])!
        model.observationCovariance = Matrix(nestedRows: [[50, 10, 15, 0], [10, 60, 0, 15], [15, 0, 50, 10], [0, 15, 10, 60]])!
        model.observationOffset = [0, 0, 0, 0]
        var lost = 0, eye = 0
        return (model, trials(of: model, samples: samples, seed: seed) { generator, t, row in
            if t == 0 { lost = 0 }
            if lost == 0 && generator.nextUniform() < 1.0 / 250 { lost = 5 + Int(generator.nextUniform() * 20); eye = generator.nextUniform() < 0.5 ? 0 : 2 }
            guard lost > 0 else { return row }
            lost -= 1
            var partial = row
            partial[eye] = .nan
            partial[eye + 1] = .nan
            return partial
        })
    }

    /// `samples` samples of `model` in trials of 2,000 steps, each starting at a random point of a
    /// 1920×1080 screen; `observe` turns each sampled row (and its step in the trial) into what is
    /// recorded (nil: masked).
    static func trials(of model: ModelParameters, samples: Int, seed: UInt64,
                       observe: (inout SeededGenerator, Int, [Double]) -> [Double]?) -> [ObservationSequence] {
        var generator = SeededGenerator(seed: seed)
        var model = model
        var result: [ObservationSequence] = []
        var remaining = samples
        while remaining > 0 {
            let steps = min(2000, remaining)
            remaining -= steps
            model.initialMean = [1920 * generator.nextUniform(), 1080 * generator.nextUniform()]
            let sampled = model.sample(steps: steps, using: &generator).observations
            var sequence = ObservationSequence(dimension: model.observationDimension)
            for t in 0..<steps { sequence.append(observe(&generator, t, sampled[t]!)) }
            result.append(sequence)
        }
        return result
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
