import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Issue 8's calibration must-show, through the real daemon: on streams drawn from the true
/// model (trials at 250 Hz starting anywhere on the screen, blinks, dropped samples, pauses
/// that restart the stream, a clock restart), the published `cov` covers the error of the
/// published estimate against the true gaze: the mean of eᵀ·cov⁻¹·e is about 2 (between 1.5
/// and 3) over the first 10 estimates after every start, and over whole streams. A stream
/// started by the course's rule (first sample, sigma_0 = 0.1 I) is shown to fail it.
@Suite struct DaemonCalibrationTests {
    struct Coverage {
        var early: [Double] = [], whole: [Double] = []
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(values.count, 1)) }
    }

    /// eᵀ·P⁻¹·e for 2-vectors.
    static func mahalanobis(_ e: [Double], _ p: [Double]) -> Double {
        let det = p[0] * p[3] - p[1] * p[2]
        return (e[0] * e[0] * p[3] - e[0] * e[1] * (p[1] + p[2]) + e[1] * e[1] * p[0]) / det
    }

    /// A published estimate's x, y and cov (nil where null: not known yet), read with
    /// JSONSerialization (thousands of messages; the Codable reader is too slow in debug builds).
    static func estimate(_ payload: [UInt8]) throws -> (x: Double, y: Double, cov: [Double])? {
        let object = try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any]
        guard let x = object?["x"] as? Double, let y = object?["y"] as? Double,
              let rows = object?["cov"] as? [[Double]], rows.count == 2, rows.allSatisfy({ $0.count == 2 }) else { return nil }
        return (x, y, rows.flatMap { $0 })
    }

    /// Each trial's published estimates against its true gaze: the first 10 known estimates
    /// after the trial's start (a restart), and all of them.
    static func coverage(_ session: GazeTrials, _ messages: [(x: Double, y: Double, cov: [Double])?]) -> Coverage {
        var result = Coverage()
        var index = 0
        for trial in session.trials {
            var known = 0
            for sample in trial {
                defer { index += 1 }
                guard index < messages.count, let (x, y, cov) = messages[index] else { continue }
                let value = mahalanobis([x - sample.gaze[0], y - sample.gaze[1]], cov)
                if known < 10 { result.early.append(value) }
                result.whole.append(value)
                known += 1
            }
        }
        return result
    }

    @Test func thePublishedCovarianceCoversTheErrorFromTheFirstSample() throws {
        let directory = makeTemporaryDirectory("calibration")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/params", withIntermediateDirectories: true)
        var overconfident = GazeModels.randomWalk
        overconfident.initialCovariance = .diagonal([0.1, 0.1])  // the old default start: sigma_0 = 0.1 I
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/params/walk.json")
        try ParameterFile(parameters: GazeModels.velocity).write(to: directory + "/params/velocity.json")
        try ParameterFile(parameters: overconfident).write(to: directory + "/params/course.json")
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/default.json")
        try """
            {"params": "\(directory)/default.json", "params_dir": "\(directory)/params", "rate_hz": 250, "reset_after_s": 1,
             "streams": {"course": {"start": "first-sample"}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon)
        var layout = GazeTrials.Layout()
        layout.trials = 16
        layout.seconds = 4
        let sessions = ["walk": GazeTrials(model: GazeModels.randomWalk, layout: layout, seed: 7),
                        "velocity": GazeTrials(model: GazeModels.velocity, layout: layout, seed: 8),
                        "course": GazeTrials(model: GazeModels.randomWalk, layout: layout, seed: 7)]
        var results: [String: Coverage] = [:]
        for (stream, session) in sessions.sorted(by: { $0.key < $1.key }) {
            let samples = session.samples
            for sample in samples { try client.publish(stream: stream, json: GazeTrials.json(sample)) }
            let messages = try client.receive(count: samples.count) { $0 == "gaze.clean." + stream }.map { try Self.estimate($0.payload) }
            #expect(messages.count == samples.count, "\(stream): \(messages.count) of \(samples.count)")
            results[stream] = Self.coverage(session, messages)
        }
        for stream in ["walk", "velocity"] {
            let coverage = try #require(results[stream])
            let early = coverage.mean(coverage.early), whole = coverage.mean(coverage.whole)
            #expect(coverage.early.count >= 10 * layout.trials - 5, "\(stream): \(coverage.early.count) early estimates")
            #expect((1.5...3).contains(early), "\(stream): mean eᵀ·cov⁻¹·e over the first 10 estimates after each start: \(early)")
            #expect((1.5...3).contains(whole), "\(stream): mean eᵀ·cov⁻¹·e over whole streams: \(whole)")
        }
        // The control: the course's start claims sigma_0 = 0.1 I for a sample that is off by √R ≈ 7 px.
        let course = try #require(results["course"])
        #expect(course.mean(course.early) > 10, "the course's start: \(course.mean(course.early))")
        #expect(daemon.terminate()?.status == 0)
    }
}
