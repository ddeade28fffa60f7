import GazeKit
import LinearDynamics
import Testing
import _TestSupport

@Suite struct GazeStreamFilterTests {
    static let model = RandomModels.make(n: 4, m: 2, seed: 5)

    static func run(_ filter: inout GazeStreamFilter, _ t: Double, _ x: Double, _ y: Double, arrival: Double = 0) -> GazeStreamFilter.Outcome {
        [x, y].withUnsafeBufferPointer { filter.process(time: t, observation: $0, arrival: arrival) }
    }

    @Test func startsAtTheFirstUnmaskedSampleAndPublishesThePriorBefore() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(start: .firstSample))
        #expect(Self.run(&filter, 0, -1, -1) == .estimate)
        #expect(!filter.hasStarted && filter.sequenceNumber == 1)
        filter.withEstimate { _, _, state in #expect(Array(state) == Self.model.initialMean) }
        #expect(Self.run(&filter, 0.01, 100, 200) == .estimate)
        #expect(filter.hasStarted)
        var reference = OnlineKalmanFilter(parameters: Self.model, initialMean: [100, 200, 0, 0])
        _ = try? reference.step([100, 200])
        filter.withEstimate { _, _, state in #expect(Array(state) == reference.mean) }
    }

    /// With no plausible range, eyes at ±1e308 overflow the filter: each sample that does so is
    /// the one that diverges (the stream starts afresh, counted, the sample published as lost),
    /// and the good sample after them is not lost with them.
    @Test func anUpdateThatOverflowsLosesOnlyItsOwnSample() {
        let binocular = ModelParameters(
            transition: .identity(2), transitionCovariance: .identity(2), observation: Matrix(nestedRows: [[1, 0], [0, 1], [1, 0], [0, 1]])!,
            observationCovariance: .diagonal([50, 50, 50, 50]), initialMean: [0, 0], initialCovariance: .identity(2))
        var filter = GazeStreamFilter(parameters: binocular, model: StreamModel(loss: .none, plausible: nil, binocular: true))
        func send(_ t: Double, _ eyes: [Double]) -> (masked: Bool, finite: Bool) {
            _ = eyes.withUnsafeBufferPointer { filter.process(time: t, observation: $0, arrival: 0) }
            return (filter.lastWasMasked, filter.withEstimate { mean, _, state in mean.allSatisfy(\.isFinite) && state.allSatisfy(\.isFinite) })
        }
        _ = send(0, [1e308, 1e308, 1e308, 1e308])
        _ = send(0.004, [1e308, 1e308, 1e308, 1e308])
        let mixed = send(0.008, [-1e308, -1e308, 1e308, 1e308])
        #expect(mixed.masked || mixed.finite, "published as observed with a state that is not finite")
        let good = send(0.012, [500, 400, 502, 401])
        #expect(!good.masked && good.finite, "the good sample after them was lost")
        #expect(filter.counters.diverged >= 1)
    }

    @Test func staleSamplesAreDroppedAndCounted() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(start: .firstSample))
        _ = Self.run(&filter, 1.0, 10, 10)
        #expect(Self.run(&filter, 0.5, 10, 10) == .droppedStale)
        #expect(filter.counters.dropped == 1 && filter.sequenceNumber == 1 && filter.lastTime == 1.0)
        #expect(Self.run(&filter, 1.0, 10, 10) == .estimate)
    }

    @Test func gapsAreBridgedWithPredictOnlySteps() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(rateHz: 100, start: .firstSample))
        var reference = OnlineKalmanFilter(parameters: Self.model, initialMean: [5, 6, 0, 0])
        _ = Self.run(&filter, 0, 5, 6)
        _ = try? reference.step([5, 6])
        _ = Self.run(&filter, 0.04, 7, 8)  // four periods: three missing samples
        for _ in 0..<3 { reference.predictOnly() }
        _ = try? reference.step([7, 8])
        #expect(filter.counters.bridgedSteps == 3)
        filter.withEstimate { _, _, state in #expect(Array(state) == reference.mean) }
        _ = Self.run(&filter, 0.054, 7, 8)  // 1.4 periods: no bridging
        #expect(filter.counters.bridgedSteps == 3)
    }

    @Test func silenceRestartsTheStream() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(resetAfterSeconds: 2, start: .firstSample))
        _ = Self.run(&filter, 0, 5, 6)
        _ = Self.run(&filter, 3, 50, 60)  // three seconds of silence by timestamps
        #expect(filter.counters.resets == 1)
        filter.withEstimate { _, _, state in #expect(state[0] != 5) }
        _ = Self.run(&filter, 3.1, 50, 60, arrival: 10)  // and by the wall clock
        #expect(filter.counters.resets == 2)
        #expect(filter.sequenceNumber == 3)
    }

    @Test func aTrackerBackFromSilenceWithItsClockRestartedIsNotStale() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(resetAfterSeconds: 2, start: .firstSample))
        _ = Self.run(&filter, 100, 5, 6, arrival: 0)
        _ = Self.run(&filter, 100.01, 5, 6, arrival: 0.01)
        #expect(Self.run(&filter, 99, 5, 6, arrival: 1) == .droppedStale)  // not silent: stale
        #expect(Self.run(&filter, 0, 50, 60, arrival: 4) == .estimate)  // silent 4 s, clock restarted
        #expect(filter.counters.resets == 1 && filter.counters.dropped == 1 && filter.lastTime == 0)
        var reference = OnlineKalmanFilter(parameters: Self.model, initialMean: [50, 60, 0, 0])  // started afresh
        _ = try? reference.step([50, 60])
        filter.withEstimate { _, _, state in #expect(Array(state) == reference.mean) }
        #expect(Self.run(&filter, 0.01, 50, 60, arrival: 4.01) == .estimate)
    }

    @Test func aStateThatOverflowsRestartsTheStream() {
        // An unstable model bridging a long gap overflows: the stream starts afresh, never publishing ∞.
        var model = RandomModels.make(n: 2, m: 2, seed: 6)
        model.transition = Matrix.diagonal([3, 3])
        var filter = GazeStreamFilter(parameters: model, model: StreamModel(rateHz: 1000, resetAfterSeconds: 10, start: .firstSample))
        _ = Self.run(&filter, 0, 5, 6)
        #expect(Self.run(&filter, 1, 7, 8) == .estimate)  // 999 bridged steps of D = 3·I
        #expect(filter.counters.diverged == 1 && !filter.hasStarted && filter.lastWasMasked)
        filter.withEstimate { mean, covariance, state in
            #expect((Array(mean) + Array(covariance) + Array(state)).allSatisfy { $0.isFinite })
        }
        _ = Self.run(&filter, 1.001, 7, 8)
        #expect(filter.hasStarted)
        filter.withEstimate { _, _, state in #expect(Array(state).allSatisfy { $0.isFinite }) }
    }

    @Test func aClockJumpingBackFurtherThanTheResetRestartsRatherThanDropping() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(resetAfterSeconds: 2, start: .firstSample))
        _ = Self.run(&filter, 0, 5, 6)
        _ = Self.run(&filter, 0.01, 5, 6)
        #expect(Self.run(&filter, 1e15, 5, 6) == .estimate)  // an outlier far ahead: restart
        for i in 0..<5 { #expect(Self.run(&filter, 0.02 + Double(i) * 0.01, 7, 8) == .estimate) }  // back to normal: restart, accepted
        #expect(filter.counters.dropped == 0 && filter.counters.resets == 2 && filter.lastTime == 0.06)
        #expect(Self.run(&filter, 0.05, 7, 8) == .droppedStale)  // a late sample is still dropped
    }

    @Test func extremeRatesNeverTrapAndBoundTheWorkPerSample() {
        var model = StreamModel(rateHz: 100_000, resetAfterSeconds: 86_400, start: .firstSample)
        #expect(model.maximumBridgedSteps == 1_000)  // the default max_bridged_steps
        model.bridgeLimit = 100_000
        var filter = GazeStreamFilter(parameters: Self.model, model: model)
        #expect(filter.model.maximumBridgedSteps == 100_000)
        _ = Self.run(&filter, 0, 5, 6)
        _ = Self.run(&filter, 0.5, 5, 6)  // 49,999 missing steps: bridged
        #expect(filter.counters.bridgedSteps == 49_999 && filter.counters.resets == 0)
        _ = Self.run(&filter, 3600, 5, 6)  // 3.6e8 missing steps: more than the bound, restart instead
        #expect(filter.counters.bridgedSteps == 49_999 && filter.counters.resets == 1)
    }

    @Test func newParametersCarryTheStateOver() {
        var filter = GazeStreamFilter(parameters: Self.model, model: StreamModel(start: .firstSample))
        _ = Self.run(&filter, 0, 5, 6)
        var replacement = Self.model
        replacement.observationCovariance = Matrix.diagonal([100, 100])
        let before = filter.withEstimate { _, _, state in Array(state) }
        filter.replaceParameters(replacement)
        #expect(filter.parameters == replacement && filter.hasStarted)
        #expect(filter.withEstimate { _, _, state in Array(state) } == before)
        filter.replaceParameters(RandomModels.make(n: 2, m: 2, seed: 1))
        #expect(!filter.hasStarted && filter.counters.resets == 1)
    }

    /// The diffuse start (the default) publishes nothing as known before the first observation
    /// (NaN, written as null), and its first estimate's covariance is honest: for H = I, n = 2,
    /// the estimate is the sample itself with covariance R, not sigma_0.
    @Test func aDiffuseStartPublishesNothingAsCertainBeforeItsFirstObservation() {
        var model = ModelParameters(transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 4]])!,
                                    observation: .identity(2), observationCovariance: Matrix(nestedRows: [[50, 10], [10, 60]])!,
                                    initialMean: [512, 384], initialCovariance: .diagonal([0.1, 0.1]))
        var filter = GazeStreamFilter(parameters: model, model: StreamModel())
        _ = Self.run(&filter, 0, -1, -1)
        filter.withEstimate { mean, covariance, state in
            #expect(mean.allSatisfy(\.isNaN) && covariance.allSatisfy(\.isNaN) && state.allSatisfy(\.isNaN))
        }
        #expect(!filter.hasStarted && filter.lastWasMasked)
        _ = Self.run(&filter, 0.004, 900, 500)
        filter.withEstimate { mean, covariance, state in
            #expect(zip(Array(mean), [900.0, 500]).allSatisfy { abs($0 - $1) < 1e-9 })
            #expect(zip(Array(covariance), [50.0, 10, 10, 60]).allSatisfy { abs($0 - $1) < 1e-9 }, "\(Array(covariance))")
            #expect(state.count == 2 && !state.contains { $0.isNaN })
        }
        // Position and velocity: the position is known after one observation, the velocity after two.
        model = RandomModels.make(n: 4, m: 2, seed: 5)
        var velocity = GazeStreamFilter(parameters: model, model: StreamModel(plausible: nil))
        _ = Self.run(&velocity, 0, 5, 6)
        velocity.withEstimate { mean, covariance, state in
            #expect(!mean.contains { $0.isNaN } && !covariance.contains { $0.isNaN } && state.allSatisfy(\.isNaN))
        }
        _ = Self.run(&velocity, 0.01, 7, 8)
        velocity.withEstimate { _, _, state in #expect(!state.contains { $0.isNaN }) }
    }

    /// Ten samples of x = 1e308 are implausible: masked and counted, the stream is not poisoned,
    /// and it goes on exactly as if they had been lost.
    @Test func absurdCoordinatesNeverPoisonAStream() {
        var wild = GazeStreamFilter(parameters: Self.model, model: StreamModel())
        var lost = GazeStreamFilter(parameters: Self.model, model: StreamModel())
        for i in 0..<210 {
            let t = Double(i) / 100, x = 500 + Double(i % 7), y = 300 - Double(i % 5)
            let absurd = (50..<60).contains(i)
            _ = Self.run(&wild, t, absurd ? 1e308 : x, y)
            _ = Self.run(&lost, t, absurd ? -1 : x, y)
        }
        #expect(wild.counters.implausible == 10 && wild.counters.masked == 10 && wild.counters.diverged == 0)
        wild.withEstimate { wildMean, _, wildState in
            lost.withEstimate { lostMean, _, lostState in
                #expect(Array(wildMean) == Array(lostMean) && Array(wildState) == Array(lostState))
                #expect(wildMean.allSatisfy { abs($0) < 1000 })
            }
        }
    }
}
