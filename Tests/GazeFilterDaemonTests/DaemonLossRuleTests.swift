import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Each stream's loss rule and plausible range in the real daemon: every tracker's way of
/// marking a lost sample is masked (and only that), and absurd coordinates never poison a stream.
@Suite struct DaemonLossRuleTests {
    /// A stream's samples: every 10th lost in the stream's own way (`lost(t)` gives the payload).
    struct Case: Sendable {
        var stream: String, rule: String
        var lost: @Sendable (Double) -> String
        var kept: @Sendable (Double, Double, Double) -> String = { t, x, y in "{\"t\": \(t), \"x\": \(x), \"y\": \(y)}" }
    }

    static let cases: [Case] = [
        Case(stream: "negative", rule: "negative", lost: { "{\"t\": \($0), \"x\": -1, \"y\": 300}" }),
        Case(stream: "nan", rule: "nan", lost: { "{\"t\": \($0), \"x\": NaN, \"y\": NaN}" }),
        Case(stream: "null", rule: "nan", lost: { "{\"t\": \($0), \"x\": null, \"y\": null}" }),
        Case(stream: "zero", rule: "zero", lost: { "{\"t\": \($0), \"x\": 0, \"y\": 0}" }),
        Case(stream: "sentinel", rule: "sentinel:-32768", lost: { "{\"t\": \($0), \"x\": -32768, \"y\": -32768}" }),
        Case(stream: "confidence", rule: "confidence:0.6", lost: { "{\"t\": \($0), \"x\": 500, \"y\": 300, \"confidence\": 0.3}" },
             kept: { t, x, y in "{\"t\": \(t), \"x\": \(x), \"y\": \(y), \"confidence\": 0.9}" }),
        // Under `none`, a negative coordinate is gaze (centred coordinates).
        Case(stream: "centred", rule: "none", lost: { "{\"t\": \($0), \"x\": null, \"y\": 1}" },
             kept: { t, x, y in "{\"t\": \(t), \"x\": \(x - 960), \"y\": \(y - 540)}" }),
    ]

    @Test func eachStreamsLossRuleMasksExactlyItsLostSamples() throws {
        let directory = makeTemporaryDirectory("loss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/params.json")
        let streams = Self.cases.map { "\"\($0.stream)\": {\"loss\": \"\($0.rule)\"}" }.joined(separator: ", ")
        try """
            {"params": "\(directory)/params.json", "stats_interval_s": 0.2, "streams": {\(streams)}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon)
        for entry in Self.cases {
            for i in 0..<100 {
                let t = Double(i) / 250
                try client.publish(stream: entry.stream, json: i % 10 == 3 ? entry.lost(t) : entry.kept(t, 500 + Double(i % 7), 300 + Double(i % 5)))
            }
        }
        let messages = try client.receive(count: 100 * Self.cases.count) { $0.hasPrefix("gaze.clean.") && !$0.hasSuffix(".probe") }
        for entry in Self.cases {
            let masked = messages.filter { $0.topic == "gaze.clean." + entry.stream }.map {
                (try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any])?["masked"] as? Bool
            }
            #expect(masked.count == 100, "\(entry.stream): \(masked.count) estimates")
            let expected = (0..<100).map { $0 % 10 == 3 }
            #expect(masked == expected, "\(entry.stream) (\(entry.rule)): masked where \(masked.enumerated().filter { $0.element == true }.map(\.offset))")
        }
        #expect(daemon.terminate()?.status == 0)
    }

    /// Ten samples of x = 1e308 (finite, absurd) are masked and counted as implausible in
    /// `gaze.stats`; the stream's estimates afterwards are exactly those of a stream whose
    /// same ten samples were lost, so nothing of the wild value is left in the state.
    @Test func anAbsurdCoordinateNeverPoisonsALiveStream() throws {
        let directory = makeTemporaryDirectory("wild")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/params.json")
        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", directory + "/params.json", "--stats-interval", "0.2"])
        let client = try GazeTestClient(daemon: daemon)
        for i in 0..<210 {
            let t = Double(i) / 250, x = 500 + Double(i % 7), y = 300 + Double(i % 5)
            let absurd = (20..<30).contains(i)
            try client.publish(stream: "wild", json: "{\"t\": \(t), \"x\": \(absurd ? 1e308 : x), \"y\": \(y)}")
            try client.publish(stream: "twin", json: "{\"t\": \(t), \"x\": \(absurd ? -1 : x), \"y\": \(y)}")
        }
        let messages = try client.receive(count: 420) { $0 == "gaze.clean.wild" || $0 == "gaze.clean.twin" }
        func states(_ stream: String) -> [[Double]] {
            messages.filter { $0.topic == "gaze.clean." + stream }.map {
                ((try? JSONSerialization.jsonObject(with: Data($0.payload)) as? [String: Any])?["state"] as? [Double]) ?? []
            }
        }
        let wild = states("wild"), twin = states("twin")
        #expect(wild.count == 210 && wild == twin)
        #expect(wild.last.map { abs($0[0] - 503) < 50 } == true, "\(wild.last ?? [])")
        let deadline = Date().addingTimeInterval(5)
        var implausible: Double?
        while implausible != 10, Date() < deadline, let stats = try client.receive(count: 1, where: { $0 == "gaze.stats" }).first {
            implausible = (try JSONValue.parse(Data(stats.payload))).object?["streams"]?.object?["wild"]?.object?["implausible"]?.number
        }
        #expect(implausible == 10)
        #expect(daemon.terminate()?.status == 0)
    }
}
