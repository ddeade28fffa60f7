import Foundation
import GazeFilterConfiguration
import GazeFilterDaemon
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Binocular streams in the real daemon: the loss rule and plausible range per eye, a
/// parameter set of the wrong shape refused in one line naming the file, monocular streams
/// beside binocular ones unchanged, and hostile binocular messages under `ulimit -v`.
@Suite(.serialized) struct BinocularDaemonTests {
    /// A daemon with a binocular stream `eyes` (and every other stream monocular).
    static func start(_ directory: String, extra: String = "", arguments: [String] = [], memoryLimitKiB: Int? = nil) throws -> DaemonProcess {
        try ParameterFile(parameters: GazeModels.binocular).write(to: directory + "/binocular.json")
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/default.json")
        try """
            {"params": "\(directory)/default.json", "binocular_params": "\(directory)/binocular.json", "params_dir": "\(directory)/params",
             "record_dir": "\(directory)/rec", "stats_interval_s": 0.2, "streams": {"eyes": {"binocular": true\(extra)}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        return try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"] + arguments,
                                 memoryLimitKiB: memoryLimitKiB)
    }

    /// The loss rule and the plausible range judge each eye: a lost or implausible eye leaves
    /// the sample partly observed (counted `one_eye`), both a masked sample; a monocular stream
    /// beside it publishes exactly what it did before (no `eyes` field).
    @Test func theLossRuleAndThePlausibleRangeApplyPerEye() throws {
        let directory = makeTemporaryDirectory("eyes")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try Self.start(directory, extra: #", "loss": "confidence:0.6""#)
        let client = try GazeTestClient(daemon: daemon)
        let messages: [(String, Bool, Bool, Bool)] = [  // payload, left used, right used, masked
            (#"{"t": 0.000, "lx": 600, "ly": 400, "rx": 610, "ry": 404, "confidence": 0.9}"#, true, true, false),
            (#"{"t": 0.004, "lx": 601, "ly": 401, "rx": 611, "ry": 405, "left_confidence": 0.1, "right_confidence": 0.95}"#, false, true, false),
            (#"{"t": 0.008, "lx": 602, "ly": 402, "rx": 1e308, "ry": 405, "confidence": 0.9}"#, true, false, false),
            (#"{"t": 0.012, "lx": null, "ly": 402, "rx": 612, "ry": 406, "confidence": 0.9}"#, false, true, false),
            (#"{"t": 0.016, "lx": 603, "ly": 403, "rx": 613, "ry": 407}"#, false, false, true),  // no confidence: lost
            (#"{"t": 0.020, "lx": 603, "ly": 403, "rx": 613, "ry": 407, "confidence": 0.9, "right_confidence": 0.2}"#, true, false, false),
        ]
        for (payload, _, _, _) in messages { try client.publish(stream: "eyes", json: payload) }
        try client.publish(stream: "mono", json: #"{"t": 0, "x": 600, "y": 400}"#)
        let received = try client.receive(count: messages.count + 1) { $0 == "gaze.clean.eyes" || $0 == "gaze.clean.mono" }
        let eyes = received.filter { $0.topic == "gaze.clean.eyes" }.map { try? JSONValue.parse(Data($0.payload)).object }
        #expect(eyes.count == messages.count)
        for (message, expected) in zip(eyes, messages) {
            let object = try #require(message)
            let fields = try #require(object["eyes"]?.object, "\(object)")
            #expect(fields["left_observed"]?.bool == expected.1 && fields["right_observed"]?.bool == expected.2
                    && object["masked"]?.bool == expected.3, "\(expected.0): \(object)")
            #expect(fields["lx"]?.number != nil && object["cov"]?.array?.count == 2)
        }
        let mono = try #require(received.first { $0.topic == "gaze.clean.mono" })
        let text = String(decoding: mono.payload, as: UTF8.self)
        #expect(!text.contains("eyes") && text.hasPrefix(#"{"t":0.0,"x":600.0,"y":400.0"#), "\(text)")
        let stats = try JSONValue.parse(Data(try client.receive(count: 1) { $0 == "gaze.stats" }.first?.payload ?? [])).object
        let counters = stats?["streams"]?.object?["eyes"]?.object
        #expect(counters?["one_eye"]?.number == 4 && counters?["masked"]?.number == 1 && counters?["implausible"]?.number == 1, "\(String(describing: counters))")
        #expect(daemon.terminate()?.status == 0)
        // The recording keeps both eyes and each eye's confidence (the loss rule reads it).
        let file = try String(contentsOfFile: directory + "/rec/eyes/\(UTCCalendar.day()).csv", encoding: .utf8)
        #expect(file.hasPrefix("t,lx,ly,rx,ry,left_confidence,right_confidence\n0.0,600.0,400.0,610.0,404.0,0.9,0.9\n0.004,601.0,401.0,611.0,405.0,0.1,0.95\n0.008,602.0,402.0,1e+308,405.0,0.9,0.9\n0.012,nan,402.0,612.0,406.0,0.9,0.9\n"), "\(file)")
    }

    /// A parameter set of the other shape is refused with one line naming the file: at start
    /// (binocular_params with 2 rows: the daemon exits 2), and for a stream's own file (the
    /// stream runs on the binocular default, the log says why), at start and at SIGHUP.
    @Test func mismatchedParametersAreRefusedNamingTheFile() throws {
        let directory = makeTemporaryDirectory("eyes-mismatch")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/two.json")
        let gazefilterd = executablePath("gazefilterd")
        let refused = try runCommand("/bin/sh", ["-c", "timeout 20 \(gazefilterd) --binocular --binocular-params \(directory)/two.json --no-record"
                                                        + " --input ipc://\(directory)/i --output ipc://\(directory)/o"])
        #expect(refused.status == 2 && refused.standardError.split(separator: "\n").count == 1
                && refused.standardError.contains("\(directory)/two.json: a binocular stream observes both eyes (lx, ly, rx, ry): H must have 4 rows, it has 2"),
                "\(refused.status) \(refused.standardError)")

        try FileManager.default.createDirectory(atPath: directory + "/params", withIntermediateDirectories: true)
        try ParameterFile(parameters: GazeModels.randomWalk).write(to: directory + "/params/eyes.json")
        try ParameterFile(parameters: GazeModels.binocular).write(to: directory + "/params/mono.json")
        let daemon = try Self.start(directory)
        let client = try GazeTestClient(daemon: daemon)
        try client.publish(stream: "eyes", json: #"{"t": 0, "lx": 600, "ly": 400, "rx": 610, "ry": 404}"#)
        try client.publish(stream: "mono", json: #"{"t": 0, "x": 600, "y": 400}"#)
        let received = try client.receive(count: 2) { $0.hasPrefix("gaze.clean.") }
        #expect(received.count == 2)
        #expect(daemon.waitForLog("stream eyes: \(directory)/params/eyes.json: a binocular stream observes both eyes (lx, ly, rx, ry): H must have 4 rows, it has 2; using \(directory)/binocular.json"),
                "\(daemon.log)")
        #expect(daemon.waitForLog("stream mono: \(directory)/params/mono.json: the daemon observes gaze (x, y): H must have 2 rows, it has 4 (parameters for both eyes: set \"binocular\": true for the stream)"),
                "\(daemon.log)")
        let stats = try JSONValue.parse(Data(try client.receive(count: 1) { $0 == "gaze.stats" }.first?.payload ?? [])).object
        #expect(stats?["streams"]?.object?["eyes"]?.object?["params"]?.string == directory + "/binocular.json")
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("reload: stream eyes: \(directory)/params/eyes.json: a binocular stream observes both eyes"), "\(daemon.log)")
        #expect(daemon.terminate()?.status == 0)
    }

    /// At SIGHUP a binocular stream takes up new binocular parameters keeping its state, while
    /// a change of `binocular` waits for the next restart (it decides the wire format, the
    /// recording layout and the parameters' shape): the stream stays binocular, the log says why.
    @Test func aReloadTakesNewBinocularParametersAndKeepsTheEyes() throws {
        let directory = makeTemporaryDirectory("eyes-reload")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try Self.start(directory)
        let client = try GazeTestClient(daemon: daemon)
        try client.publish(stream: "eyes", json: #"{"t": 0, "lx": 600, "ly": 400, "rx": 610, "ry": 404}"#)
        #expect(try client.receive(count: 1) { $0 == "gaze.clean.eyes" }.count == 1)
        var wider = GazeModels.binocular
        wider.observationCovariance = .diagonal([90, 90, 90, 90])
        try ParameterFile(parameters: wider).write(to: directory + "/binocular.json")
        try """
            {"params": "\(directory)/default.json", "binocular_params": "\(directory)/binocular.json", "params_dir": "\(directory)/params",
             "record_dir": "\(directory)/rec", "stats_interval_s": 0.2, "streams": {"eyes": {"binocular": false}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("reload: changes of \"binocular\" take effect at the next restart"), "\(daemon.log)")
        #expect(daemon.waitForLog("1 of 2 streams took a new model: eyes (\(directory)/binocular.json)"), "\(daemon.log)")
        try client.publish(stream: "eyes", json: #"{"t": 0.004, "lx": 601, "ly": 401, "rx": null, "ry": null}"#)
        let after = try JSONValue.parse(Data(try #require(try client.receive(count: 1) { $0 == "gaze.clean.eyes" }.first).payload)).object
        #expect(after?["eyes"]?.object?["right_observed"]?.bool == false && after?["seq"]?.number == 2, "\(String(describing: after))")
        #expect(daemon.terminate()?.status == 0)
    }

    /// Hostile binocular messages (absurd numbers, missing keys, wrong types, duplicates,
    /// a monocular payload, junk) under a 2 GB address-space limit: each counted as malformed
    /// or masked, none crashes the daemon or poisons the stream.
    @Test func hostileBinocularMessagesNeverCrashOrPoison() throws {
        let directory = makeTemporaryDirectory("eyes-hostile")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try Self.start(directory, memoryLimitKiB: 2_000_000)
        let client = try GazeTestClient(daemon: daemon)
        let hostile = [
            #"{"t": 0.1, "lx": 600, "ly": 400, "rx": 610}"#,  // missing ry
            #"{"t": 0.1, "x": 600, "y": 400}"#,  // a monocular sample on a binocular stream
            #"{"t": 0.1, "lx": "600", "ly": 400, "rx": 610, "ry": 404}"#,  // a string
            #"{"t": 0.1, "lx": [600], "ly": 400, "rx": 610, "ry": 404}"#,  // an array
            #"{"t": 0.1, "lx": 600, "lx": 601, "ly": 400, "rx": 610, "ry": 404}"#,  // a duplicate
            #"{"t": 0.1, "lx": 600, "ly": 400, "rx": 610, "ry": 404, "left_confidence": null}"#,  // a confidence not a number
            #"{"t": 0.1, "lx": 1e999, "ly": 400, "rx": 610, "ry": 404}"#,  // overflows to infinity
            #"{"t": 0.1, "lx": 600, "ly": 400, "rx": 610, "ry": 404, "right_confidence": true}"#,
            String(repeating: "[", count: 100_000),
        ]
        var t = 0.0
        func good(_ x: Double) throws {
            try client.publish(stream: "eyes", json: "{\"t\": \(t), \"lx\": \(x), \"ly\": 400, \"rx\": \(x + 6), \"ry\": 404}")
            t += 0.004
        }
        for _ in 0..<40 { try good(600) }
        for payload in hostile { try client.publish(stream: "eyes", json: payload) }
        // Absurd but finite: the left eye lost (a negative ly: the loss rule comes first), the
        // right eye implausible, then both implausible (masked).
        for _ in 0..<20 {
            try client.publish(stream: "eyes", json: "{\"t\": \(t), \"lx\": 1e308, \"ly\": -1e300, \"rx\": 606, \"ry\": 404}")
            t += 0.004
            try client.publish(stream: "eyes", json: "{\"t\": \(t), \"lx\": 600, \"ly\": 400, \"rx\": 1.7e308, \"ry\": 5e307}")
            t += 0.004
            try client.publish(stream: "eyes", json: "{\"t\": \(t), \"lx\": 1e300, \"ly\": 400, \"rx\": -1e300, \"ry\": 404}")
            t += 0.004
        }
        for _ in 0..<100 { try good(610) }
        let messages = try client.receive(count: 200) { $0 == "gaze.clean.eyes" }
        #expect(messages.count == 200)
        let last = try JSONValue.parse(Data(messages.last?.payload ?? [])).object
        let x = last?["x"]?.number ?? .infinity, y = last?["y"]?.number ?? .infinity
        #expect(abs(x - 613) < 20 && abs(y - 402) < 20, "last estimate \(x), \(y)")
        let stats = try JSONValue.parse(Data(try client.receive(count: 1) { $0 == "gaze.stats" }.first?.payload ?? [])).object
        let counters = stats?["streams"]?.object?["eyes"]?.object
        #expect(counters?["malformed"]?.number == Double(hostile.count) && counters?["implausible"]?.number == 40
                && counters?["one_eye"]?.number == 40 && counters?["masked"]?.number == 20, "\(String(describing: counters))")
        #expect(daemon.terminate()?.status == 0)
    }

    /// Pupil Core's datums into a binocular stream: a monocular datum of eye 0 is the right
    /// eye (the left lost), of eye 1 the left; a binocular `.01.` datum gives both eyes its one
    /// gaze point and confidence; a surface datum's own `topic` names its eye.
    @Test func pupilDatumsFillTheirEyes() throws {
        let settings = PupilSourceSettings(widthPixels: 1000, heightPixels: 500)
        func datum(_ writer: inout MessagePackWriter, topic: String? = nil) {
            writer.mapHeader(topic == nil ? 3 : 5)
            writer.string("norm_pos"); writer.arrayHeader(2); writer.double(0.5); writer.double(0.25)
            writer.string("confidence"); writer.double(0.9)
            writer.string("timestamp"); writer.double(12.5)
            if let topic { writer.string("topic"); writer.string(topic); writer.string("on_surf"); writer.bool(true) }
        }
        var writer = MessagePackWriter()
        datum(&writer)
        let gaze = writer.bytes
        func samples(_ topic: String, _ payload: [UInt8], binocular: Bool = true) throws -> [RawGazeSample] {
            var result: [RawGazeSample] = []
            try Array(topic.utf8).withUnsafeBytes { t in
                try payload.withUnsafeBytes { p in try settings.samples(topic: t, payload: p, binocular: binocular) { result.append($0) } }
            }
            return result
        }
        #expect(try samples("gaze.3d.0.", gaze) == [RawGazeSample(t: 12.5, lx: .nan, ly: .nan, rx: 500, ry: 375, rightConfidence: 0.9)])
        #expect(try samples("gaze.2d.1.", gaze) == [RawGazeSample(t: 12.5, lx: 500, ly: 375, rx: .nan, ry: .nan, leftConfidence: 0.9)])
        #expect(try samples("gaze.3d.01.", gaze) == [RawGazeSample(t: 12.5, lx: 500, ly: 375, rx: 500, ry: 375, leftConfidence: 0.9, rightConfidence: 0.9)])
        #expect(try samples("gaze.3d.0.", gaze, binocular: false) == [RawGazeSample(t: 12.5, x: 500, y: 375, confidence: 0.9)])
        writer.reset()
        writer.mapHeader(1)
        writer.string("gaze_on_surfaces"); writer.arrayHeader(2)
        datum(&writer, topic: "gaze.3d.1._on_surface")
        datum(&writer, topic: "gaze.3d.01._on_surface")
        let eyes = try samples("surfaces.screen", writer.bytes).map { ($0.lx.isNaN, $0.rx.isNaN) }
        #expect(eyes.count == 2 && eyes[0] == (false, true) && eyes[1] == (false, false))
    }

    /// A binocular file played as a Pupil Capture (`gazecat pub --as pupil`: both eyes a
    /// binocular datum, one eye its monocular datum) into a binocular Pupil stream of the real
    /// daemon: each estimate says which eyes its datum came from, and equals the core filter on
    /// the rows the datums give (a binocular datum both eyes at its one point).
    @Test func aPupilCaptureFeedsABinocularStream() throws {
        let directory = makeTemporaryDirectory("eyes-pupil")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var model = GazeModels.binocular
        model.observationOffset = [0, 0, 0, 0]
        try ParameterFile(parameters: model).write(to: directory + "/binocular.json")
        let port = Int.random(in: 20_000...60_000)
        try """
            {"binocular_params": "\(directory)/binocular.json", "reset_after_s": 30, "record_dir": null,
             "streams": {"pupil-eyes": {"binocular": true, "pupil_remote": "tcp://127.0.0.1:\(port)", "pupil_topic": "gaze.3d.",
                                        "width_px": 1920, "height_px": 1080}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        var generator = SeededGenerator(seed: 31)
        let drawn = model.sample(steps: 200, using: &generator).observations
        var lines = ["t,lx,ly,rx,ry,left_confidence,right_confidence"]
        var used: [(left: Bool, right: Bool)] = []
        for i in 0..<200 {
            let row = drawn[i]!
            let left = !(40..<70).contains(i), right = !(100..<130).contains(i) && i % 17 != 5
            used.append((left, right))
            lines.append("\(Double(i) / 200),\(left ? "\(row[0])" : ""),\(left ? "\(row[1])" : ""),\(right ? "\(row[2])" : ""),\(right ? "\(row[3])" : ""),0.9,0.95")
        }
        try lines.joined(separator: "\n").write(toFile: directory + "/eyes.csv", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon, topic: "gaze.clean.")
        let replay = try runTool("gazecat", ["pub", "--as", "pupil", "--remote", "tcp://127.0.0.1:\(port)", "--input", directory + "/eyes.csv",
                                             "--burst", "--wait", "20", "--pupil-topic", "gaze.3d."])
        #expect(replay.status == 0, "\(replay.standardError)")
        let messages = try client.receive(count: 200) { $0 == "gaze.clean.pupil-eyes" }.map { try JSONValue.parse(Data($0.payload)).object! }
        try #require(messages.count == 200, "\(daemon.log)")
        let file = try ObservationFile.read(directory + "/eyes.csv", model: .raw)
        var filter = OnlineKalmanFilter(parameters: model, start: .diffuse)
        for (i, message) in messages.enumerated() {
            let eyes = message["eyes"]?.object
            #expect(eyes?["left_observed"]?.bool == used[i].left && eyes?["right_observed"]?.bool == used[i].right, "sample \(i): \(message)")
            // What the datum carries, after the round trip through normalised coordinates.
            guard let row = file.observations[i] else {  // neither eye: a datum without gaze, masked
                #expect(message["masked"]?.bool == true)
                _ = try filter.step(nil)
                continue
            }
            let point = used[i].left && used[i].right ? [(row[0] + row[2]) / 2, (row[1] + row[3]) / 2] : used[i].left ? [row[0], row[1]] : [row[2], row[3]]
            let observed = [used[i].left ? point[0] : .nan, used[i].left ? point[1] : .nan, used[i].right ? point[0] : .nan, used[i].right ? point[1] : .nan]
            _ = try filter.step(observed)
            var estimate = [Double](repeating: 0, count: 4), covariance = [Double](repeating: 0, count: 16)
            filter.observationEstimate(mean: &estimate, covariance: &covariance)
            let x = try #require(message["x"]?.number)
            #expect(abs(x - (estimate[0] + estimate[2]) / 2) < 1e-6, "sample \(i): \(x) against \((estimate[0] + estimate[2]) / 2)")
        }
        #expect(daemon.terminate()?.status == 0)
    }
}
