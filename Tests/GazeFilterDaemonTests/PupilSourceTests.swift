#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// The real daemon against the stand-in Pupil Capture (scripts/standins/pupil_capture.py,
/// written from Pupil's network API): gaze and surface topics from one Capture, with nested
/// base_data, binary attachments, low-confidence datums and a restart of Capture midway.
@Suite(.serialized) struct PupilSourceTests {
    typealias Datum = (t: Double, nx: Double, ny: Double, confidence: Double)

    /// Pixels as the daemon must count them: origin top-left, y down; Pupil's y goes up.
    static func pixels(_ d: Datum, width: Double, height: Double) -> (t: Double, x: Double, y: Double) {
        d.confidence < 0.6 ? (d.t, -1, -1) : (d.t, d.nx * width, (1 - d.ny) * height)
    }

    @Test func gazeAndSurfaceDatumsAreFilteredInPixelsAcrossARestart() throws {
        let directory = makeTemporaryDirectory("gfd-pupil")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model = DaemonIntegrationTests.model
        try ParameterFile(parameters: model).write(to: directory + "/params.json")

        // Gaze in the screen's upper left (pixels: small y; Pupil: norm y near 1), 250 Hz.
        var generator = SeededGenerator(seed: 11)
        let drawn = model.sample(steps: 800, using: &generator).observations
        let (gazeWidth, gazeHeight) = (1920.0, 1080.0), (surfaceWidth, surfaceHeight) = (1280.0, 1024.0)
        var gaze: [Datum] = [], surface: [Datum] = []
        var plan: [String] = []
        func number(_ v: Double) -> String { "\(v)" }
        for i in 0..<800 {
            let t = 5000 + Double(i) / 250
            let confidence = i % 9 == 4 ? 0.3 : i % 31 == 0 ? 0.0 : 0.95
            if i < 400 {
                let d: Datum = (t, drawn[i]![0] / gazeWidth, 1 - drawn[i]![1] / gazeHeight, confidence)
                gaze.append(d)
                plan.append(#"{"topic": "gaze.3d.01.", "timestamp": \#(number(t)), "norm_pos": [\#(number(d.nx)), \#(number(d.ny))], "confidence": \#(confidence)}"#)
                if i == 200 { plan.append(#"{"restart": true}"#) }
            } else {
                // Surface events carry 1 to 3 gaze datums each; some off the surface (norm > 1).
                let d: Datum = (t, drawn[i]![0] / surfaceWidth * (i % 17 == 0 ? 3 : 1), 1 - drawn[i]![1] / surfaceHeight, confidence)
                surface.append(d)
                let onSurface = (0...1).contains(d.nx) && (0...1).contains(d.ny)
                let entry = #"{"timestamp": \#(number(t)), "norm_pos": [\#(number(d.nx)), \#(number(d.ny))], "confidence": \#(confidence), "on_surf": \#(onSurface)}"#
                if i % 3 != 0, plan.last?.contains("surfaces.screen") == true {
                    plan[plan.count - 1] = String(plan[plan.count - 1].dropLast(2)) + ", " + entry + "]}"
                } else {
                    plan.append(#"{"topic": "surfaces.screen", "timestamp": \#(number(t)), "gaze_on_surfaces": [\#(entry)]}"#)
                }
            }
        }
        try plan.joined(separator: "\n").write(toFile: directory + "/plan.jsonl", atomically: true, encoding: .utf8)

        let capture = try StandInProcess(
            script: "scripts/standins/pupil_capture.py",
            arguments: ["--remote-port", "0", "--plan", directory + "/plan.jsonl", "--rate", "400",
                        "--subscriptions", "gaze.,surfaces.screen", "--start-file", directory + "/go"],
            errorPath: directory + "/capture.err")
        let port = try #require(capture.line(startingWith: "remote "), "the stand-in did not start: \(capture.errors)")
        try """
            {"params": "\(directory)/params.json", "reset_after_s": 30, "stats_interval_s": 0.2, "record_dir": "\(directory)/rec",
             "streams": {"eyes": {"pupil_remote": "tcp://127.0.0.1:\(port)", "pupil_topic": "gaze."},
                         "screen": {"pupil_remote": "tcp://127.0.0.1:\(port)", "pupil_topic": "surfaces.screen",
                                    "width_px": \(surfaceWidth), "height_px": \(surfaceHeight)}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon, topic: "gaze.clean.")
        _ = FileManager.default.createFile(atPath: directory + "/go", contents: nil)

        let received = try client.receive(count: gaze.count + surface.count)
        #expect(capture.wait(timeout: 60) == 0, "stand-in: \(capture.errors)")
        let byStream = Dictionary(grouping: received) { $0.topic }
            .mapValues { $0.map { try! JSONValue.parse(Data($0.payload)).object! } }
        for (name, datums, width, height) in [("eyes", gaze, gazeWidth, gazeHeight), ("screen", surface, surfaceWidth, surfaceHeight)] {
            let messages = byStream["gaze.clean." + name] ?? []
            // Every datum one estimate, in order, with Pupil's timestamp; low confidence masked.
            #expect(messages.map { $0["t"]?.number ?? .nan } == datums.map(\.t), "stream \(name): \(messages.count) of \(datums.count) estimates")
            #expect(messages.map { $0["masked"]?.bool } == datums.map { $0.confidence < 0.6 }, "stream \(name): masking")
            let samples = datums.map { Self.pixels($0, width: width, height: height) }
            DaemonIntegrationTests.check(messages, against: try GazeStreamReference.expected(samples: samples, parameters: model), stream: name)
        }
        // Orientation, in plain numbers: gaze drawn near (512, 384) px is published near there.
        let firstSeen = try #require(byStream["gaze.clean.eyes"]?.last)
        #expect(abs((firstSeen["y"]?.number ?? 0) - drawn[399]![1]) < 60 && abs((firstSeen["x"]?.number ?? 0) - drawn[399]![0]) < 60)

        // The restart: Capture came back on a new backbone port and the daemon found it.
        let backbones = try #require(capture.line(startingWith: "backbone ", after: 1))
        #expect(daemon.log.contains("Pupil's backbone tcp://127.0.0.1:" + backbones), "\(daemon.log)")
        #expect(daemon.terminate()?.status == 0)

        // The recording keeps what the stream's loss rule needs: a confidence column, read
        // back by the refit's reader with the same rule (confidence:0.6, Pupil's default).
        let recordings = directory + "/rec/eyes"
        let day = try #require(try FileManager.default.contentsOfDirectory(atPath: recordings).first)
        let recorded = try String(contentsOfFile: recordings + "/" + day, encoding: .utf8).split(separator: "\n")
        #expect(recorded.first == "t,x,y,confidence" && recorded.count == gaze.count + 1)
        let streamModel = try #require(try DaemonConfiguration.read(file: directory + "/config.json").streamOverrides["eyes"])
        #expect(streamModel.loss == .confidenceBelow(0.6))
        let scan = try RecordingReader.read(directory: recordings, model: streamModel)
        #expect(scan.sampleCount == gaze.count && scan.lostSamples == gaze.filter { $0.confidence < 0.6 }.count)

        // gazecat replays that recording as a Pupil Capture; a daemon fed by it gives the
        // estimates the batch filter gives for the recorded samples.
        try replayRecording(recordings + "/" + day, model: streamModel, in: directory)
    }

    /// A file replayed as surface events (`surfaces.<name>`, one datum each) over another screen size.
    @Test func gazecatReplaysAFileAsSurfaceEvents() throws {
        let directory = makeTemporaryDirectory("gfd-pupil-surface")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: DaemonIntegrationTests.model).write(to: directory + "/params.json")
        var generator = SeededGenerator(seed: 5)
        let drawn = DaemonIntegrationTests.model.sample(steps: 150, using: &generator).observations
        let rows = (0..<150).map { i in "\(Double(i) / 60),\(drawn[i]![0]),\(drawn[i]![1]),\(i % 11 == 3 ? 0.1 : 0.88)" }
        try (["t,x,y,confidence"] + rows).joined(separator: "\n").write(toFile: directory + "/surface.csv", atomically: true, encoding: .utf8)
        try replayRecording(directory + "/surface.csv", model: StreamModel(loss: .confidenceBelow(0.6)), in: directory,
                            topic: "surfaces.monitor", width: 1000, height: 800)
    }

    /// Pupil not running when the daemon starts: other streams flow meanwhile, the daemon
    /// keeps asking, and finds Capture when it comes up.
    @Test func aMissingPupilBlocksNothingAndIsFoundWhenItStarts() throws {
        let directory = makeTemporaryDirectory("gfd-pupil-late")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Int.random(in: 20_000...60_000)
        try """
            {"params": "\(packageRoot)/config/params/default.json",
             "streams": {"late": {"pupil_remote": "tcp://127.0.0.1:\(port)", "pupil_topic": "gaze."}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon)  // its probe stream goes through while Pupil is away
        #expect(daemon.waitForLog("Pupil Remote at tcp://127.0.0.1:\(port) does not answer"))
        for i in 0..<50 { try client.publish(stream: "json", json: "{\"t\": \(Double(i) / 100), \"x\": 500, \"y\": 400}") }
        #expect(try client.receive(count: 50) { $0 == "gaze.clean.json" }.count == 50)

        let plan = (0..<60).map { #"{"topic": "gaze.2d.0.", "timestamp": \#(10 + Double($0) / 120), "norm_pos": [0.5, 0.5], "confidence": 0.9}"# }
        try plan.joined(separator: "\n").write(toFile: directory + "/plan.jsonl", atomically: true, encoding: .utf8)
        let capture = try StandInProcess(script: "scripts/standins/pupil_capture.py",
                                         arguments: ["--remote-port", "\(port)", "--plan", directory + "/plan.jsonl"],
                                         errorPath: directory + "/capture.err")
        let estimates = try client.receive(count: 60) { $0 == "gaze.clean.late" }
        #expect(estimates.count == 60, "\(capture.errors)")
        // gaze.stats names the source, its backbone and how often it was connected.
        let stats = try JSONValue.parse(Data(try #require(try client.receive(count: 1) { $0 == "gaze.stats" }.first).payload)).object
        let source = stats?["pupil"]?.object?["late"]?.object
        #expect(source?["remote"]?.string == "tcp://127.0.0.1:\(port)" && source?["connections"]?.number == 1)
        #expect(source?["backbone"]?.string?.hasPrefix("tcp://127.0.0.1:") == true)
        #expect(capture.wait(timeout: 30) == 0)
        #expect(daemon.terminate()?.status == 0)
    }

    /// `gazecat pub --as pupil` of a recording (t,x,y,confidence) into a daemon whose stream's source is Pupil.
    func replayRecording(_ path: String, model streamModel: StreamModel, in directory: String,
                         topic: String = "gaze.", width: Double = 1920, height: Double = 1080) throws {
        let replayDirectory = directory + "/replay"
        try FileManager.default.createDirectory(atPath: replayDirectory, withIntermediateDirectories: true)
        let port = Int.random(in: 20_000...60_000)
        try """
            {"params": "\(directory)/params.json", "reset_after_s": 30,
             "streams": {"again": {"pupil_remote": "tcp://127.0.0.1:\(port)", "pupil_topic": "\(topic)",
                                   "width_px": \(width), "height_px": \(height)}}}
            """.write(toFile: replayDirectory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: replayDirectory, arguments: ["--config", replayDirectory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon, topic: "gaze.clean.")
        let file = try ObservationFile.read(path, model: .raw)
        let replay = try runTool("gazecat", ["pub", "--as", "pupil", "--remote", "tcp://127.0.0.1:\(port)", "--input", path, "--burst", "--wait", "20",
                                             "--pupil-topic", topic, "--width-px", "\(width)", "--height-px", "\(height)"])
        #expect(replay.status == 0, "\(replay.standardError)")
        let messages = try client.receive(count: file.times.count) { $0 == "gaze.clean.again" }.map { try JSONValue.parse(Data($0.payload)).object! }
        let samples = (0..<file.times.count).map { i -> (t: Double, x: Double, y: Double) in
            let values = file.observations[i]!
            return streamModel.verdict(values, confidence: file.confidences![i]).isMasked ? (file.times[i], -1, -1) : (file.times[i], values[0], values[1])
        }
        DaemonIntegrationTests.check(messages, against: try GazeStreamReference.expected(samples: samples, parameters: DaemonIntegrationTests.model),
                                     stream: "again")
        #expect(daemon.terminate()?.status == 0)
    }
}
