import GazeKit
import LinearDynamics

/// Timings of the numerical core, printed as `key value` lines for `scripts/bench`.
enum CoreBenchmarks {
    /// A constant-velocity gaze model: state (x, y, vx, vy), observed (x, y).
    static func velocityModel() -> ModelParameters {
        let dt = 1.0 / 250
        return ModelParameters(
            transition: Matrix(nestedRows: [[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]])!,
            transitionCovariance: Matrix.diagonal([1, 1, 400, 400]),
            observation: Matrix(nestedRows: [[1, 0, 0, 0], [0, 1, 0, 0]])!,
            observationCovariance: Matrix(nestedRows: [[26, 19.6], [19.6, 26.7]])!,
            initialMean: [512, 384, 0, 0], initialCovariance: Matrix.diagonal([100, 100, 1000, 1000]))
    }

    /// The 4,096-sample stream both step benchmarks replay: observations drawn from `parameters`
    /// (seed 1) and about 5% of them masked; with `oneEyeFraction`, a binocular stream (m = 4)
    /// also has that fraction of its samples with one eye missing (NaN, partly observed).
    static func benchmarkStream(_ parameters: ModelParameters, oneEyeFraction: Double = 0) -> (values: [Double], masked: [Bool]) {
        var generator = SeededGenerator(seed: 1)
        var values = parameters.sample(steps: 4096, using: &generator).observations.values
        var masked = [Bool](repeating: false, count: 4096)
        for t in 0..<4096 where generator.nextUniform() < 0.05 { masked[t] = true }
        if parameters.observationDimension == 4 {
            for t in 0..<4096 where generator.nextUniform() < oneEyeFraction {
                let eye = generator.nextUniform() < 0.5 ? 0 : 2
                values[t * 4 + eye] = .nan
                values[t * 4 + eye + 1] = .nan
            }
        }
        return (values, masked)
    }

    /// ns per online filter step, over a stream with about 5% of samples masked (and, binocular,
    /// `oneEyeFraction` of them with one eye missing).
    static func nanosecondsPerStep(_ parameters: ModelParameters, steps: Int, oneEyeFraction: Double = 0) -> Double {
        let stream = benchmarkStream(parameters, oneEyeFraction: oneEyeFraction)
        var values = stream.values
        let masked = stream.masked
        let m = parameters.observationDimension
        let elapsed = bestOf(5) {
            var filter = OnlineKalmanFilter(parameters: parameters)
            var total = 0.0
            values.withUnsafeMutableBufferPointer { buffer in
                for step in 0..<steps {
                    let t = step & 4095
                    if masked[t] {
                        filter.predictOnly()
                    } else {
                        total += (try? filter.step(observation: UnsafeBufferPointer(rebasing: buffer[(t * m)..<(t * m + m)]))) ?? 0
                    }
                }
            }
            sink += total + filter.mean[0]
        }
        return elapsed / Double(steps)
    }

    /// ns per sample for the filter step plus the fixed-lag smoother's (`FixedLagSmoother`
    /// push and the ready estimate read), over the same stream as `nanosecondsPerStep`.
    static func nanosecondsPerFixedLagSample(_ parameters: ModelParameters, lag: Int, steps: Int) -> Double {
        let stream = benchmarkStream(parameters)
        var values = stream.values
        let masked = stream.masked
        let m = parameters.observationDimension
        let elapsed = bestOf(5) {
            var filter = OnlineKalmanFilter(parameters: parameters)
            var smoother = FixedLagSmoother(lag: lag, stateDimension: parameters.stateDimension)
            var total = 0.0
            values.withUnsafeMutableBufferPointer { buffer in
                for step in 0..<steps {
                    let t = step & 4095
                    let observation = masked[t] ? nil : UnsafeBufferPointer(rebasing: buffer[(t * m)..<(t * m + m)])
                    total += (try? filter.step(observation: observation)) ?? 0
                    if let ready = smoother.push(filter) {
                        total += smoother.withSmoothed(ready) { mean, covariance in mean[0] + covariance[0] }
                    }
                }
            }
            sink += total
        }
        return elapsed / Double(steps)
    }

    /// ms per EM iteration (fitting D, Q, H, R) on `steps` samples of gaze drawn from `truth`.
    static func millisecondsPerEMIteration(truth: ModelParameters, start: ModelParameters, steps: Int, iterations: Int) -> Double {
        var generator = SeededGenerator(seed: 2)
        let data = truth.sample(steps: steps, using: &generator).observations
        let configuration = EMConfiguration(fitting: [.transition, .transitionCovariance, .observation, .observationCovariance], maximumIterations: iterations)
        let elapsed = bestOf(3) {
            let result = try? start.fitEM(to: [data], configuration: configuration)
            sink += result?.logLikelihoods.last ?? 0
        }
        return elapsed / Double(iterations) / 1e6
    }

    static func run(parameters: ModelParameters, emSteps: Int, emIterations: Int, dataDirectory: String?) {
        print("step_ns_n2 \(nanosecondsPerStep(parameters, steps: 5_000_000))")
        print("step_ns_n4 \(nanosecondsPerStep(velocityModel(), steps: 2_000_000))")
        if let binocular = try? ParameterFile.read("config/params/binocular.json").parameters {  // n = 2, m = 4, a fifth one-eyed
            print("step_ns_binocular \(nanosecondsPerStep(binocular, steps: 2_000_000, oneEyeFraction: 0.2))")
        }
        for (name, model, steps) in [("n2", parameters, 1_000_000), ("n4", velocityModel(), 500_000)] {
            for lag in [5, 25, 100] {
                print("fixed_lag_ns_\(name)_lag\(lag) \(nanosecondsPerFixedLagSample(model, lag: lag, steps: steps / max(1, lag / 5)))")
            }
        }
        var start = parameters
        start.transition = .identity(2)
        start.transitionCovariance = .identity(2)
        start.observation = .identity(2)
        start.observationCovariance = .identity(2)
        print("em_ms_per_iteration \(millisecondsPerEMIteration(truth: parameters, start: start, steps: emSteps, iterations: emIterations))")
        if let dataDirectory {
            // The same data for pykalman: observations and the EM starting point.
            var generator = SeededGenerator(seed: 2)
            let data = parameters.sample(steps: emSteps, using: &generator).observations
            try? ObservationFile.write(times: (0..<emSteps).map { Double($0) / 60 }, observations: data,
                                       columnNames: ["x", "y"], to: dataDirectory + "/em_data.csv")
            try? ParameterFile(parameters: start).write(to: dataDirectory + "/em_init.json")
            try? ParameterFile(parameters: parameters).write(to: dataDirectory + "/params.json")
            try? ParameterFile(parameters: velocityModel()).write(to: dataDirectory + "/velocity.json")
        }
        if sink == 42 { print("") }
    }
}
