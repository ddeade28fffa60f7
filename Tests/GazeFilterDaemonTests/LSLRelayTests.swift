#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Lab Streaming Layer in and out on real liblsl (pylsl's): a stand-in tracker's LSL outlet of
/// raw gaze with NaN for lost samples → `gazefilter-lsl in` → the real daemon →
/// `gazefilter-lsl out` → an LSL inlet; the estimates equal the batch filter's.
@Suite(.serialized) struct LSLRelayTests {
    @Test func rawGazeInCleanedGazeOutEqualsTheBatchFilter() throws {
        let directory = makeTemporaryDirectory("gfd-lsl")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = DaemonIntegrationTests.model
        try ParameterFile(parameters: model).write(to: directory + "/params.json")
        let stream = "tobii-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"  // unique on a shared machine's LSL

        var generator = SeededGenerator(seed: 21)
        let drawn = model.sample(steps: 600, using: &generator).observations
        var samples: [(t: Double, x: Double, y: Double)] = []
        var plan: [String] = []
        for i in 0..<600 {
            let t = 7200 + Double(i) / 500
            let lost = (100..<112).contains(i) || i % 23 == 5  // a blink and scattered losses
            samples.append((t, lost ? -1 : drawn[i]![0], lost ? -1 : drawn[i]![1]))
            plan.append(lost ? "[\(t), null, null]" : "[\(t), \(drawn[i]![0]), \(drawn[i]![1])]")
        }
        try plan.joined(separator: "\n").write(toFile: directory + "/plan.jsonl", atomically: true, encoding: .utf8)

        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", directory + "/params.json", "--reset-after", "30"])
        let (rows, relays) = try Self.relay(stream, through: daemon, channels: ["--x-channel", "gaze_x", "--y-channel", "gaze_y"], in: directory)
        let expected = try GazeStreamReference.expected(samples: samples, parameters: model)
        #expect(rows.count == expected.count)
        for (row, want) in zip(rows, expected) {
            // [timestamp, x, y, cov_xx, cov_xy, cov_yy, masked]: the tracker's timestamp, H·mean, H·Σ·Hᵀ.
            let got = Array(row.dropFirst())
            let wanted = want.estimate + [want.covariance[0], want.covariance[1], want.covariance[3], want.masked ? 1 : 0]
            let close = got.count == wanted.count && zip(got, wanted).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
            #expect(row.first == want.t && close, "sample \(want.sequence): got \(row), expected t \(want.t) \(wanted)")
            if !(row.first == want.t && close) { break }
        }
        for relay in relays {
            relay.process.terminate()
            #expect(relay.wait(timeout: 10) == 0)
        }
        #expect(daemon.terminate()?.status == 0)
    }

    /// Plays `directory/plan.jsonl` from the stand-in LSL tracker through `gazefilter-lsl in`
    /// (with `channels`), the daemon and `gazefilter-lsl out` back to the tracker's inlet;
    /// returns the cleaned rows it received and the two relays (still running).
    static func relay(_ stream: String, through daemon: DaemonProcess, channels: [String], in directory: String) throws -> ([[Double]], [StandInProcess]) {
        let relayOut = try StandInProcess(script: "scripts/gazefilter-lsl",
                                          arguments: ["out", "--endpoint", daemon.outputEndpoint, "--stream", stream, "--rate", "500"],
                                          errorPath: directory + "/out.err")
        #expect(relayOut.line(startingWith: "outlet ") == stream, "\(relayOut.errors)")
        let relayIn = try StandInProcess(script: "scripts/gazefilter-lsl",
                                         arguments: ["in", "--stream", stream, "--name", "raw-" + stream] + channels + ["--endpoint", daemon.inputEndpoint],
                                         errorPath: directory + "/in.err")
        let tracker = try StandInProcess(script: "scripts/standins/lsl_tracker.py",
                                         arguments: ["--name", "raw-" + stream, "--clean-source-id", "gazefilter." + stream,
                                                     "--plan", directory + "/plan.jsonl", "--out", directory + "/clean.jsonl"],
                                         errorPath: directory + "/tracker.err")
        #expect(tracker.wait(timeout: 120) == 0, "tracker: \(tracker.errors)\nin: \(relayIn.errors)\nout: \(relayOut.errors)")
        let rows = try String(contentsOfFile: directory + "/clean.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONValue.parse(Data($0.utf8)).numbers ?? [] }
        return (rows, [relayIn, relayOut])
    }
}

extension LSLRelayTests {
    /// A binocular LSL tracker (each eye's channels by label, NaN for a lost eye) through
    /// `gazefilter-lsl in --lx-channel …` into a binocular stream: the cleaned outlet carries the
    /// cyclopean gaze of the core filter run on the same rows, to 1e-9.
    @Test func aBinocularTrackerByChannelLabels() throws {
        let directory = makeTemporaryDirectory("gfd-lsl-eyes")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = GazeModels.binocular
        try ParameterFile(parameters: model).write(to: directory + "/binocular.json")
        let stream = "eyes-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try """
            {"binocular_params": "\(directory)/binocular.json", "reset_after_s": 30, "record_dir": null, "streams": {"\(stream)": {"binocular": true}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        var generator = SeededGenerator(seed: 22)
        let drawn = model.sample(steps: 400, using: &generator).observations
        var rows: [(t: Double, values: [Double])] = []
        var plan: [String] = []
        for i in 0..<400 {
            var values = drawn[i]!
            if (50..<120).contains(i) { values[0] = .nan; values[1] = .nan }  // the left eye lost
            if (200..<260).contains(i) || i % 31 == 3 { values[2] = .nan; values[3] = .nan }  // the right eye lost
            let t = 3600 + Double(i) / 500
            rows.append((t, values))
            plan.append("[\(t), " + values.map { $0.isNaN ? "null" : "\($0)" }.joined(separator: ", ") + "]")
        }
        try plan.joined(separator: "\n").write(toFile: directory + "/plan.jsonl", atomically: true, encoding: .utf8)

        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let (received, relays) = try Self.relay(stream, through: daemon, channels: ["--lx-channel", "left_gaze_x", "--ly-channel", "left_gaze_y",
                                                                                   "--rx-channel", "right_gaze_x", "--ry-channel", "3"], in: directory)
        #expect(received.count == rows.count)
        var filter = OnlineKalmanFilter(parameters: model, start: .diffuse)
        for (row, sent) in zip(received, rows) {
            _ = try filter.step(sent.values)
            guard filter.hasObservationEstimate else { continue }
            var eyes = [Double](repeating: 0, count: 4), covariance = [Double](repeating: 0, count: 16)
            filter.observationEstimate(mean: &eyes, covariance: &covariance)
            let x = (eyes[0] + eyes[2]) / 2, y = (eyes[1] + eyes[3]) / 2
            let xx = (covariance[0] + covariance[2] + covariance[8] + covariance[10]) / 4
            // [timestamp, x, y, cov_xx, cov_xy, cov_yy, masked]
            let close = row.count == 7 && abs(row[1] - x) <= 1e-9 * abs(x) && abs(row[2] - y) <= 1e-9 * abs(y) && abs(row[3] - xx) <= 1e-9 * xx
            #expect(row.first == sent.t && close, "got \(row), expected t \(sent.t) x \(x) y \(y) cov_xx \(xx)")
            if !close { break }
        }
        for relay in relays {
            relay.process.terminate()
            #expect(relay.wait(timeout: 10) == 0)
        }
        #expect(daemon.terminate()?.status == 0)
    }
}
