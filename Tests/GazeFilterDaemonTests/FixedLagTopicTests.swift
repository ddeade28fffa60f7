#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import LinearDynamics
import Testing
import ZeroMQ
import _TestSupport

/// `gaze.smooth.<stream>` from the real `gazefilterd` over real ipc:// sockets: every sample's
/// fixed-lag estimate equals the batch RTS smoother run on the stream cut N samples later (to
/// 1e-9), for n = 2 and n = 4, with runs of lost samples, bridged gaps, a clock restart that
/// flushes the pending samples, and the last N samples published at shutdown.
@Suite(.serialized) struct FixedLagTopicTests {
    /// Position and velocity at 100 Hz, observed in pixels, drifting back to the screen's centre (b).
    static let velocityModel: ModelParameters = {
        let dt = 0.01
        let d = Matrix(nestedRows: [[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 0.9, 0], [0, 0, 0, 0.9]])!
        return ModelParameters(
            transition: d, transitionCovariance: Matrix.diagonal([0.5, 0.5, 900, 900]),
            observation: Matrix(nestedRows: [[1, 0, 0, 0], [0, 1, 0, 0]])!,
            observationCovariance: Matrix(nestedRows: [[26, 19.6], [19.6, 26.7]])!, initialMean: [512, 384, 0, 0],
            initialCovariance: Matrix.diagonal([100, 100, 1e4, 1e4]), observationOffset: [2, -3])
    }()

    typealias Sample = (t: Double, x: Double, y: Double)

    /// `count` samples of `model` every `period` s, with runs of lost samples (the first one
    /// too), a few with one coordinate negative.
    static func samples(_ model: ModelParameters, count: Int, seed: UInt64, period: Double) -> [Sample] {
        var generator = SeededGenerator(seed: seed)
        let drawn = model.sample(steps: count, using: &generator).observations
        var samples: [Sample] = (0..<count).map { (Double($0) * period, drawn[$0]![0], drawn[$0]![1]) }
        samples[0].x = -1
        for start in stride(from: 20, to: count, by: 47) { for i in start..<min(start + 1 + start % 9, count) { samples[i].y = -1 } }
        for i in stride(from: 33, to: count, by: 61) { samples[i].x = -0.5 }
        return samples
    }

    static func json(_ s: Sample) -> String { "{\"t\": \(s.t), \"x\": \(s.x), \"y\": \(s.y)}" }

    @Test func theSmoothedTopicIsTheBatchSmootherOnTheTruncatedStream() throws {
        let directory = makeTemporaryDirectory("gfd-lag")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: DaemonIntegrationTests.model).write(to: directory + "/params.json")
        try ParameterFile(parameters: Self.velocityModel).write(to: directory + "/velocity.json")
        try FileManager.default.createDirectory(atPath: directory + "/streams", withIntermediateDirectories: true)
        try ParameterFile(parameters: Self.velocityModel).write(to: directory + "/streams/velocity.json")
        try ParameterFile(parameters: Self.velocityModel).write(to: directory + "/streams/bridged.json")
        try """
            {"params": "\(directory)/params.json", "params_dir": "\(directory)/streams", "record_dir": "\(directory)/rec",
             "smooth_lag": 5,
             "streams": {"walk": {}, "velocity": {"smooth_lag": 12}, "bridged": {"rate_hz": 100, "smooth_lag": 25, "start": "first-sample"},
                         "restarted": {"smooth_lag": 7, "reset_after_s": 0.5}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon)

        let walk = DaemonIntegrationTests.samples(count: 160, seed: 5, period: 0.01).enumerated().map { i, s in
            i % 23 < 3 ? (t: s.t, x: -1.0, y: s.y) : s  // runs of three lost samples, the first one too
        }
        let velocity = Self.samples(Self.velocityModel, count: 200, seed: 6, period: 0.01)
        var bridged: [Sample] = []
        var t = 0.0
        for (i, sample) in Self.samples(Self.velocityModel, count: 150, seed: 7, period: 0.01).enumerated() {
            t += i % 19 == 18 ? Double(2 + i % 4) * 0.01 : 0.01  // holes of 2 to 5 periods
            bridged.append((t, sample.x, sample.y))
        }
        var restarted = DaemonIntegrationTests.samples(count: 120, seed: 8, period: 0.01)
        for i in 60..<120 { restarted[i].t = Double(i - 60) * 0.01 }  // the tracker's clock restarts
        let streams: [(String, [Sample])] = [("walk", walk), ("velocity", velocity), ("bridged", bridged), ("restarted", restarted)]
        let expected: [String: [ExpectedEstimate]] = try [
            "walk": GazeStreamReference.expectedSmoothed(samples: walk, parameters: DaemonIntegrationTests.model, lag: 5),
            "velocity": GazeStreamReference.expectedSmoothed(samples: velocity, parameters: Self.velocityModel, lag: 12),
            "bridged": GazeStreamReference.expectedSmoothed(samples: bridged, parameters: Self.velocityModel, lag: 25,
                                                            rateHz: 100, start: .firstSample),
            "restarted": GazeStreamReference.expectedSmoothed(samples: restarted, parameters: DaemonIntegrationTests.model, lag: 7,
                                                              resetAfter: 0.5),
        ]
        #expect(expected["velocity"]!.contains { $0.estimate[0].isNaN } == false, "the reference identifies every estimate")
        for round in 0..<200 {
            for (name, samples) in streams where round < samples.count {
                try client.publish(stream: name, json: Self.json(samples[round]))
            }
        }
        // During the run: every sample with N samples after it (a restart flushes the rest of its sequence).
        let lags = ["walk": 5, "velocity": 12, "bridged": 25, "restarted": 7]
        let live = streams.reduce(0) { $0 + $1.1.count - lags[$1.0]! }
        var messages = try client.receive(count: live) { $0.hasPrefix("gaze.smooth.") && !$0.hasSuffix(".probe") }
        #expect(messages.count == live)
        // Shutdown: the last N of each stream, smoothed with what is known.
        let exit = daemon.terminate()
        #expect(exit?.status == 0, "\(daemon.log)")
        let total = expected.values.reduce(0) { $0 + $1.count }
        messages += try client.receive(count: total - messages.count) { $0.hasPrefix("gaze.smooth.") && !$0.hasSuffix(".probe") }
        var byStream: [String: [[String: JSONValue]]] = [:]
        for (topic, payload) in messages {
            byStream[String(topic.dropFirst("gaze.smooth.".count)), default: []].append(try JSONValue.parse(Data(payload)).object!)
        }
        for (name, want) in expected { DaemonIntegrationTests.check(byStream[name] ?? [], against: want, stream: name) }
        #expect(!daemon.log.contains("error"), "\(daemon.log)")
    }
}
