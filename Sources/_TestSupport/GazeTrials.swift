import Foundation
import GazeKit
import LinearDynamics

/// Simulated eye-tracking sessions drawn from a known model, as a lab records them: trials of
/// a few seconds at the tracker's rate, each starting at a random point of the screen, with
/// blinks (runs of lost samples), samples the tracker dropped (missing lines), pauses between
/// trials longer than the stream's `reset_after_s`, and the tracker's clock restarting once.
public struct GazeTrials: Sendable {
    /// One sample as the tracker reports it, with the true state behind it.
    public struct Sample: Sendable {
        /// The tracker's timestamp.
        public var t: Double
        /// The observed gaze, nil when the sample was lost (a blink).
        public var observation: [Double]?
        /// The true state (n values) and the true gaze H·state.
        public var state: [Double], gaze: [Double]
    }

    /// The trials, each a list of the samples the tracker delivered (dropped ones absent).
    public var trials: [[Sample]]

    /// How a session is laid out.
    public struct Layout: Sendable {
        public var trials = 10
        public var seconds = 8.0
        public var rateHz = 250.0
        public var screen = (width: 1920.0, height: 1080.0)
        /// Blinks per second of trial, and each blink's length in samples.
        public var blinksPerSecond = 0.3
        public var blinkSamples = 25...45
        /// The fraction of samples the tracker drops (absent from the recording).
        public var droppedFraction = 0.02
        /// Pauses between trials, seconds (longer than the stream's `reset_after_s`).
        public var pauses = 2.0...4.0
        /// The trial at which the tracker's clock restarts (its timestamps begin at 0 again).
        public var clockRestartAt: Int? = 5
        /// Binocular models (m = 4): stretches with one eye lost (which eye at random), per second.
        public var oneEyeStretchesPerSecond = 0.5
        public var oneEyeSamples = 50...150

        public init() {}
    }

    /// Draws a session from `model` (the state's first two entries are the screen position;
    /// further entries start from their stationary spread under D and Q, or 0).
    public init(model: ModelParameters, layout: Layout = Layout(), seed: UInt64) {
        var generator = SeededGenerator(seed: seed)
        let steps = Int((layout.seconds * layout.rateHz).rounded())
        let n = model.stateDimension
        var clock = 100.0
        trials = []
        for index in 0..<layout.trials {
            if index == layout.clockRestartAt { clock = 0 }
            var start = model
            var mean = [Double](repeating: 0, count: n)
            mean[0] = generator.nextUniform() * layout.screen.width
            if n > 1 { mean[1] = generator.nextUniform() * layout.screen.height }
            start.initialMean = mean
            var spread = [Double](repeating: 0, count: n)
            for i in 2..<max(2, n) {  // e.g. velocity: its stationary variance q / (1 − d²)
                let d = model.transition[i, i], q = model.transitionCovariance[i, i]
                spread[i] = abs(d) < 1 ? q / (1 - d * d) : q
            }
            start.initialCovariance = Matrix.diagonal(spread.map { max($0, 1e-12) })
            let drawn = start.sample(steps: steps, using: &generator)
            var blinkLeft = 0
            var oneEyeLeft = 0, lostEye = 0
            let binocular = model.observationDimension == 4
            var trial: [Sample] = []
            for step in 0..<steps {
                if blinkLeft == 0, generator.nextUniform() < layout.blinksPerSecond / layout.rateHz {
                    blinkLeft = layout.blinkSamples.lowerBound + Int(generator.nextUniform() * Double(layout.blinkSamples.count))
                }
                if binocular, oneEyeLeft == 0, generator.nextUniform() < layout.oneEyeStretchesPerSecond / layout.rateHz {
                    oneEyeLeft = layout.oneEyeSamples.lowerBound + Int(generator.nextUniform() * Double(layout.oneEyeSamples.count))
                    lostEye = generator.nextUniform() < 0.5 ? 0 : 1
                }
                var observation = drawn.observations[step]
                if oneEyeLeft > 0 {
                    oneEyeLeft -= 1
                    observation![2 * lostEye] = .nan
                    observation![2 * lostEye + 1] = .nan
                }
                let dropped = generator.nextUniform() < layout.droppedFraction && step > 0
                let state = drawn.states.mean(at: step)
                let lost = blinkLeft > 0
                if blinkLeft > 0 { blinkLeft -= 1 }
                if dropped { continue }
                trial.append(Sample(t: clock + Double(step) / layout.rateHz, observation: lost ? nil : observation,
                                    state: state, gaze: model.observation * state))
            }
            trials.append(trial)
            clock += layout.seconds + layout.pauses.lowerBound + generator.nextUniform() * (layout.pauses.upperBound - layout.pauses.lowerBound)
        }
    }

    /// Every sample in recording order.
    public var samples: [Sample] { trials.flatMap { $0 } }

    /// The session as the daemon records it (`t,x,y`, or `t,lx,ly,rx,ry` for a binocular
    /// model), a lost sample (or eye) written as `lost` in each of its coordinates (the stream's
    /// loss rule's mark: `-1`, `nan`, `0`, `-32768`).
    public func recording(lost: String = "-1") -> String {
        let m = trials.lazy.flatMap { $0 }.first { $0.observation != nil }?.observation?.count ?? 2
        var text = m == 4 ? "t,lx,ly,rx,ry\n" : "t,x,y\n"
        for sample in samples {
            let cells = (0..<m).map { i in sample.observation.map { $0[i].isNaN ? lost : "\($0[i])" } ?? lost }
            text += "\(sample.t)," + cells.joined(separator: ",") + "\n"
        }
        return text
    }

    /// The daemon's wire payload for a sample (`-1` for a lost one).
    public static func json(_ sample: Sample) -> String {
        let observation = sample.observation ?? [-1, -1]
        return "{\"t\": \(sample.t), \"x\": \(observation[0]), \"y\": \(observation[1])}"
    }
}

/// Models the tests draw gaze from.
public enum GazeModels {
    /// Issue 8's random walk: D = I, Q = [[4,1],[1,4]], H = I, R = [[50,10],[10,60]].
    public static let randomWalk = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 4]])!, observation: .identity(2),
        observationCovariance: Matrix(nestedRows: [[50, 10], [10, 60]])!, initialMean: [960, 540],
        initialCovariance: .diagonal([1e4, 1e4]))

    /// Position and velocity at 250 Hz (n = 4, m = 2): the velocity (px per step) decays
    /// slowly and is driven by noise; the position integrates it.
    public static let velocity = ModelParameters(
        transition: Matrix(nestedRows: [[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 0.95, 0], [0, 0, 0, 0.95]])!,
        transitionCovariance: Matrix(nestedRows: [[1, 0.2, 0, 0], [0.2, 1, 0, 0], [0, 0, 0.5, 0.1], [0, 0, 0.1, 0.5]])!,
        observation: Matrix(nestedRows: [[1, 0, 0, 0], [0, 1, 0, 0]])!,
        observationCovariance: Matrix(nestedRows: [[50, 10], [10, 60]])!, initialMean: [960, 540, 0, 0],
        initialCovariance: .diagonal([1e4, 1e4, 10, 10]))
}

extension GazeModels {
    /// Both eyes of one random-walk gaze (n = 2, m = 4): H = [I; I], each eye its own noise
    /// (left [[50,10],[10,60]], right [[70,−5],[−5,40]]) and its own offset from the gaze
    /// (d = (3, −2) left, (−3, 2) right, so their mean is the gaze itself).
    public static let binocular = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 4]])!,
        observation: Matrix(nestedRows: [[1, 0], [0, 1], [1, 0], [0, 1]])!,
        observationCovariance: Matrix(nestedRows: [[50, 10, 0, 0], [10, 60, 0, 0], [0, 0, 70, -5], [0, 0, -5, 40]])!,
        initialMean: [960, 540], initialCovariance: .diagonal([1e4, 1e4]), observationOffset: [3, -2, -3, 2])
}
