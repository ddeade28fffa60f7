#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeFilterDaemon
import GazeKit
import LinearDynamics
import Testing
import ZeroMQ
import _TestSupport

/// The real `gazefilterd` process over real ipc:// sockets: interleaved streams with losses,
/// stale samples, gaps and malformed messages, checked estimate by estimate against the
/// core's batch filter; recordings; reload; shutdown.
@Suite(.serialized) struct DaemonIntegrationTests {
    /// A random-walk gaze model that stays on screen over a few hundred samples.
    static let model = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 3]])!, observation: .identity(2),
        observationCovariance: Matrix(nestedRows: [[26, 19.6], [19.6, 26.7]])!, initialMean: [512, 384],
        initialCovariance: Matrix.diagonal([0.1, 0.1]))

    typealias Sample = (t: Double, x: Double, y: Double)

    static func samples(count: Int, seed: UInt64, period: Double) -> [Sample] {
        var generator = SeededGenerator(seed: seed)
        let drawn = model.sample(steps: count, using: &generator).observations
        return (0..<count).map { (Double($0) * period, drawn[$0]![0], drawn[$0]![1]) }
    }

    static func json(_ s: Sample) -> String { "{\"t\": \(s.t), \"x\": \(s.x), \"y\": \(s.y)}" }

    static func check(_ received: [[String: JSONValue]], against expected: [ExpectedEstimate], stream: String) {
        #expect(received.count == expected.count, "stream \(stream): \(received.count) estimates, expected \(expected.count)")
        func close(_ a: [Double], _ b: [Double]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { ($0.isNaN && $1.isNaN) || abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
        }
        func numbers(_ value: JSONValue?) -> [Double] { value?.array?.map { $0.number ?? .nan } ?? [] }  // null: not known yet
        for (message, want) in zip(received, expected) {
            let x = message["x"]?.number ?? .nan, y = message["y"]?.number ?? .nan
            let covariance = message["cov"]?.array?.flatMap { numbers($0) } ?? []
            let state = numbers(message["state"])
            let ok = message["t"]?.number == want.t && close([x, y], want.estimate)
                && close(covariance, want.covariance) && close(state, want.state)
                && message["masked"]?.bool == want.masked && message["seq"]?.number == Double(want.sequence)
            #expect(ok, "stream \(stream) seq \(want.sequence): got \(message), expected \(want)")
            if !ok { return }
        }
    }

    @Test func interleavedStreamsMatchTheBatchFilter() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: Self.model).write(to: directory + "/params.json")
        try """
            {"params": "\(directory)/params.json", "record_dir": "\(directory)/rec", "stats_interval_s": 0.2,
             "streams": {"gappy": {"rate_hz": 100}, "prior": {"init": "params"}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"])
        let client = try GazeTestClient(daemon: daemon)

        // lossy: lost samples, some with only one coordinate negative, and a lost first sample.
        var lossy = Self.samples(count: 240, seed: 1, period: 0.01)
        lossy[0].x = -1; lossy[0].y = -1
        for i in stride(from: 7, to: 240, by: 13) { lossy[i].x = -1; lossy[i].y = -1 }
        for i in stride(from: 11, to: 240, by: 29) { lossy[i].x = -0.5 }
        for i in stride(from: 17, to: 240, by: 31) { lossy[i].y = -3 }
        // stale: some timestamps go backwards (dropped and counted).
        var stale = Self.samples(count: 200, seed: 2, period: 0.01)
        for i in stride(from: 20, to: 200, by: 25) { stale[i].t = stale[i - 1].t - 0.005 }
        // gappy: 100 Hz with holes of 2 to 6 periods, bridged with predict-only steps.
        var gappy: [Sample] = []
        var t = 0.0
        for (i, sample) in Self.samples(count: 200, seed: 3, period: 0.01).enumerated() {
            t += i % 17 == 16 ? Double(2 + i % 5) * 0.01 : 0.01
            gappy.append((t, sample.x, sample.y))
        }
        // prior: starts from mu_0 ("init": "params"), first samples lost.
        var prior = Self.samples(count: 120, seed: 4, period: 0.01)
        for i in 0..<3 { prior[i].x = -1 }
        let streams: [(String, [Sample])] = [("lossy", lossy), ("stale", stale), ("gappy", gappy), ("prior", prior)]

        // Malformed messages between the samples: bad frames, topics and payloads.
        let malformedFrames: [[[UInt8]]] = [
            [Array("gaze.raw.lossy".utf8)],
            [Array("gaze.raw.lossy".utf8), Array("{}".utf8), Array("extra".utf8)],
            [Array("gaze.raw.with space".utf8), Array(Self.json((0, 1, 1)).utf8)],  // (other prefixes never pass the subscription)
            [Array("gaze.raw.".utf8), Array(Self.json((0, 1, 1)).utf8)],
            [Array("gaze.raw.bad/name".utf8), Array(Self.json((0, 1, 1)).utf8)],
        ]
        let malformedPayloads = ["{\"t\": 1, \"x\": }", "{\"t\": 1, \"x\": 2}", "{\"t\": 1, \"x\": 1e999, \"y\": 2}",
                                 "{\"t\": 1, \"x\": \"3\", \"y\": 2}", "not json", "[1, 2, 3]"]
        var sent = 0
        for round in 0..<240 {
            for (name, samples) in streams where round < samples.count {
                try client.publish(stream: name, json: Self.json(samples[round]))
                sent += 1
            }
            if round % 40 == 5 { for frames in malformedFrames { try client.publish(frames: frames) } }
            if round % 40 == 9 { for payload in malformedPayloads { try client.publish(stream: "lossy", json: payload) } }
        }

        let expected: [String: [ExpectedEstimate]] = try [
            "lossy": GazeStreamReference.expected(samples: lossy, parameters: Self.model),
            "stale": GazeStreamReference.expected(samples: stale, parameters: Self.model),
            "gappy": GazeStreamReference.expected(samples: gappy, parameters: Self.model, rateHz: 100),
            "prior": GazeStreamReference.expected(samples: prior, parameters: Self.model, start: .parameters),
        ]
        let total = expected.values.reduce(0) { $0 + $1.count }
        let messages = try client.receive(count: total) { $0.hasPrefix("gaze.clean.") && !$0.hasSuffix(".probe") }
        #expect(messages.count == total)
        var byStream: [String: [[String: JSONValue]]] = [:]
        for (topic, payload) in messages {
            byStream[String(topic.dropFirst("gaze.clean.".count)), default: []].append(try JSONValue.parse(Data(payload)).object!)
        }
        for (name, want) in expected { Self.check(byStream[name] ?? [], against: want, stream: name) }

        // Statistics count what was dropped and what was malformed.
        let statistics = try client.receive(count: 1) { $0 == "gaze.stats" }
        let stats = try JSONValue.parse(Data(statistics.first?.payload ?? [])).object
        let lossyStats = stats?["streams"]?.object?["lossy"]?.object
        #expect(lossyStats?["malformed"]?.number == Double(6 * malformedPayloads.count))
        #expect(lossyStats?["masked"]?.number == Double(lossy.filter { $0.x < 0 || $0.y < 0 }.count))
        #expect(stats?["streams"]?.object?["stale"]?.object?["dropped"]?.number == Double(stale.count - expected["stale"]!.count))
        #expect(stats?["streams"]?.object?["gappy"]?.object?["bridged_steps"]?.number ?? 0 > 0)
        #expect(stats?["malformed_unattributed"]?.number == Double(6 * malformedFrames.count))

        // SIGTERM: exit 0 within a second, recordings flushed with every raw sample.
        let exit = daemon.terminate()
        #expect(exit?.status == 0, "\(daemon.log)")
        #expect((exit?.seconds ?? 99) < 1.0)
        for (name, samples) in streams {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/rec/\(name)").sorted()
            #expect(files.count == 1 && files[0].hasSuffix(".csv"))
            let recorded = try ObservationFile.read("\(directory)/rec/\(name)/\(files[0])", model: .raw)
            #expect(recorded.times == samples.map(\.t), "recording of \(name)")
            #expect(recorded.observations.values == samples.flatMap { [$0.x, $0.y] }, "recording of \(name)")
        }
        #expect(!daemon.log.contains("error"), "\(daemon.log)")
    }

    @Test func reloadKeepsParametersWhenTheNewFileIsBadAndSwitchesWhenItIsGood() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let paramsPath = directory + "/params.json"
        try ParameterFile(parameters: Self.model).write(to: paramsPath)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", paramsPath, "--stats-interval", "0.2", "--start", "first-sample"])
        let client = try GazeTestClient(daemon: daemon)
        let samples = Self.samples(count: 90, seed: 9, period: 0.01)
        var online = OnlineKalmanFilter(parameters: Self.model, initialMean: [samples[0].x, samples[0].y])
        var expectedStates: [[Double]] = []

        func send(_ range: Range<Int>) throws -> [[String: JSONValue]] {
            for i in range { try client.publish(stream: "s", json: Self.json(samples[i])) }
            return try client.receive(count: range.count) { $0 == "gaze.clean.s" }.map { try JSONValue.parse(Data($0.payload)).object! }
        }
        var received = try send(0..<30)
        for i in 0..<30 { try online.step([samples[i].x, samples[i].y]); expectedStates.append(online.mean) }

        // A file that fails validation: reported, old parameters stay.
        try #"{"D": [[1, 0], [0, 1]], "Q": [[1, 2], [3, 1]], "H": [[1, 0], [0, 1]], "R": [[1, 0], [0, 1]], "mu_0": [0, 0], "sigma_0": [[1, 0], [0, 1]]}"#
            .write(toFile: paramsPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("keeping the parameters in force"), "\(daemon.log)")
        #expect(daemon.notify.wait(for: "RELOADING=1", timeout: 5) != nil)
        #expect(daemon.waitForLog("reloaded:"))
        received += try send(30..<60)
        for i in 30..<60 { try online.step([samples[i].x, samples[i].y]); expectedStates.append(online.mean) }

        // A good file: the stream continues from its state under the new model.
        var newModel = Self.model
        newModel.observationCovariance = Matrix(nestedRows: [[400, 0], [0, 400]])!
        newModel.transitionCovariance = Matrix(nestedRows: [[50, 0], [0, 50]])!
        try ParameterFile(parameters: newModel).write(to: paramsPath)
        let reloads = daemon.log.components(separatedBy: "reloaded:").count
        daemon.signal(SIGHUP)
        let deadline = Date().addingTimeInterval(10)
        while daemon.log.components(separatedBy: "reloaded:").count == reloads && Date() < deadline { usleep(20_000) }
        // s and the client's probe, each named with the file it took its model from.
        #expect(daemon.log.contains("2 of 2 streams took a new model: "), "\(daemon.log)")
        #expect(daemon.log.contains("s (\(paramsPath))"), "\(daemon.log)")
        received += try send(60..<90)
        online = online.continuing(with: newModel)
        for i in 60..<90 { try online.step([samples[i].x, samples[i].y]); expectedStates.append(online.mean) }

        #expect(received.count == 90)
        for (index, (message, state)) in zip(received, expectedStates).enumerated() {
            let got = message["state"]?.numbers ?? []
            let ok = got.count == 2 && zip(got, state).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
            #expect(ok, "sample \(index): \(got) vs \(state)")
            if !ok { break }
        }
        #expect(daemon.terminate()?.status == 0)
    }

    /// A stream's own file in the parameter directory: the reload log names that file, not the default.
    @Test func theReloadLogNamesTheFileThatChanged() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: Self.model).write(to: directory + "/params.json")
        try FileManager.default.createDirectory(atPath: directory + "/streams", withIntermediateDirectories: true)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", directory + "/params.json",
                                                                         "--params-dir", directory + "/streams"])
        let client = try GazeTestClient(daemon: daemon)
        try client.publish(stream: "lab", json: Self.json((0, 100, 100)))
        #expect(try client.receive(count: 1) { $0 == "gaze.clean.lab" }.count == 1)
        var own = Self.model
        own.observationCovariance = Matrix(nestedRows: [[400, 0], [0, 400]])!
        try ParameterFile(parameters: own).write(to: directory + "/streams/lab.json")
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("reloaded:"), "\(daemon.log)")
        #expect(daemon.log.contains("1 of 2 streams took a new model: lab (\(directory)/streams/lab.json)"), "\(daemon.log)")
        #expect(daemon.terminate()?.status == 0)
    }

    @Test func streamsBeyondTheLimitAreRejectedAndCounted() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: Self.model).write(to: directory + "/params.json")
        // The probe stream of the test client is the first of the two allowed.
        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", directory + "/params.json", "--max-streams", "2", "--stats-interval", "0.2"])
        let client = try GazeTestClient(daemon: daemon)
        // Junk on new topics takes no slot (a stream is made by its first well-formed sample).
        for i in 0..<3 { try client.publish(stream: "junk\(i)", json: "not json") }
        for i in 0..<20 {
            try client.publish(stream: "kept", json: Self.json((Double(i), 100, 100)))
            try client.publish(stream: "extra", json: Self.json((Double(i), 100, 100)))
        }
        let messages = try client.receive(count: 20) { $0.hasPrefix("gaze.clean.") && !$0.hasSuffix(".probe") }
        #expect(messages.count == 20 && messages.allSatisfy { $0.topic == "gaze.clean.kept" })
        let stats = try JSONValue.parse(Data(try client.receive(count: 1) { $0 == "gaze.stats" }.first?.payload ?? [])).object
        #expect(stats?["rejected_streams"]?.number == 20)
        #expect(stats?["malformed_unattributed"]?.number == 3)
        #expect(stats?["streams"]?.object?.keys.sorted() == ["kept", "probe"], "\(String(describing: stats))")
        #expect(daemon.waitForLog("exceed the limit of 2 streams"), "\(daemon.log)")
        #expect(daemon.terminate()?.status == 0)
    }

    @Test func aBadConfigOnReloadKeepsTheOldOneAndTopicsCannotForgeLogLines() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try ParameterFile(parameters: Self.model).write(to: directory + "/params.json")
        let config = directory + "/config.json"
        try #"{"params": "\#(directory)/params.json", "max_streams": 8}"#.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", config])
        let client = try GazeTestClient(daemon: daemon)

        try #"{"params": "\#(directory)/params.json", "max_streams": 1e19}"#.write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("configuration not reloaded"), "\(daemon.log)")
        #expect(daemon.waitForLog("reloaded:"))
        try client.publish(stream: "after", json: Self.json((0, 100, 100)))
        #expect(try client.receive(count: 1) { $0 == "gaze.clean.after" }.count == 1)

        try client.publish(frames: [Array("gaze.raw.a\nFAKE: error: forged".utf8), Array(Self.json((0, 1, 1)).utf8)])
        #expect(daemon.waitForLog("\\x0AFAKE"), "\(daemon.log)")
        #expect(!daemon.log.split(separator: "\n").contains { $0.hasPrefix("FAKE") })
        #expect(daemon.terminate()?.status == 0)
    }

    /// `<params-dir>/<stream>.json` wins for its stream; one that does not observe (x, y) is
    /// reported and the stream runs on the global parameters; SIGINT stops like SIGTERM.
    @Test func perStreamParametersWinWhereValid() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/params", withIntermediateDirectories: true)
        try ParameterFile(parameters: Self.model).write(to: directory + "/global.json")
        var own = Self.model
        own.observationCovariance = Matrix.diagonal([400, 400])
        try ParameterFile(parameters: own).write(to: directory + "/params/own.json")
        try ParameterFile(parameters: RandomModels.make(n: 2, m: 3, seed: 3)).write(to: directory + "/params/wide.json")
        // Position and velocity (n = 4, m = 2) for one stream.
        let velocity = ModelParameters(
            transition: Matrix(nestedRows: [[1, 0, 0.01, 0], [0, 1, 0, 0.01], [0, 0, 1, 0], [0, 0, 0, 1]])!,
            transitionCovariance: Matrix.diagonal([1, 1, 50, 50]),
            observation: Matrix(nestedRows: [[1, 0, 0, 0], [0, 1, 0, 0]])!, observationCovariance: Self.model.observationCovariance,
            initialMean: [512, 384, 0, 0], initialCovariance: Matrix.diagonal([10, 10, 100, 100]))
        try ParameterFile(parameters: velocity).write(to: directory + "/params/velocity.json")
        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", directory + "/global.json", "--params-dir", directory + "/params",
                                                                         "--stats-interval", "0.2"])
        let client = try GazeTestClient(daemon: daemon)
        var samples = Self.samples(count: 20, seed: 11, period: 0.01)
        samples[4].x = -1
        for sample in samples {
            for stream in ["own", "wide", "plain", "velocity"] { try client.publish(stream: stream, json: Self.json(sample)) }
        }
        let messages = try client.receive(count: 80) { $0.hasPrefix("gaze.clean.") && !$0.hasSuffix(".probe") }
        func states(_ stream: String) -> [[Double]] {
            messages.filter { $0.topic == "gaze.clean." + stream }.map {
                (try? JSONValue.parse(Data($0.payload)).object?["state"]?.array?.map { $0.number ?? .nan }) ?? nil ?? []  // null: not known yet
            }
        }
        let underOwn = try GazeStreamReference.expected(samples: samples, parameters: own).map(\.state)
        let underGlobal = try GazeStreamReference.expected(samples: samples, parameters: Self.model).map(\.state)
        func agree(_ a: [[Double]], _ b: [[Double]]) -> Bool {
            a.count == b.count && zip(a.joined(), b.joined()).allSatisfy { ($0.isNaN && $1.isNaN) || abs($0 - $1) <= 1e-9 * max(1, abs($1)) }
        }
        #expect(agree(states("own"), underOwn) && !agree(states("own"), underGlobal))
        #expect(agree(states("wide"), underGlobal) && agree(states("plain"), underGlobal))
        let underVelocity = try GazeStreamReference.expected(samples: samples, parameters: velocity).map(\.state)
        #expect(states("velocity").allSatisfy { $0.count == 4 } && agree(states("velocity"), underVelocity))
        #expect(daemon.log.contains("stream wide: \(directory)/params/wide.json: the daemon observes gaze (x, y): H must have 2 rows"), "\(daemon.log)")
        let stats = try JSONValue.parse(Data(try client.receive(count: 1) { $0 == "gaze.stats" }.first?.payload ?? [])).object
        #expect(stats?["streams"]?.object?["own"]?.object?["params"]?.string == directory + "/params/own.json")
        #expect(stats?["streams"]?.object?["wide"]?.object?["params"]?.string == directory + "/global.json")
        daemon.signal(SIGINT)
        let deadline = Date().addingTimeInterval(5)
        while daemon.process.isRunning && Date() < deadline { usleep(10_000) }
        #expect(!daemon.process.isRunning && daemon.process.terminationStatus == 0)
    }

    @Test func helpListsEverySetting() throws {
        let help = try runTool("gazefilterd", ["--help"])
        #expect(help.status == 0)
        for option in DaemonConfiguration.options { #expect(help.standardOutput.contains("--\(option.name)"), "--\(option.name)") }
        for key in ["input", "input_mode", "output", "output_mode", "high_water_mark", "params", "params_dir", "record_dir", "pid_file",
                    "start", "loss", "plausible", "rate_hz", "reset_after_s", "stats_interval_s", "log_level", "max_streams", "streams"] {
            #expect(help.standardOutput.contains(key), "config key \(key)")
        }
    }

    @Test func badStartupInputFailsWithOneLine() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "{\"input\": \"tcp://127.0.0.1:1\", \"colour\": 3}".write(toFile: directory + "/bad.json", atomically: true, encoding: .utf8)
        for (arguments, mention) in [
            (["--config", directory + "/bad.json"], "unknown setting \"colour\""),
            (["--params", directory + "/missing.json"], "missing.json"),
            (["--rate", "-3"], "--rate"),
            (["--bogus"], "--bogus"),
        ] {
            let output = try runTool("gazefilterd", arguments)
            #expect(output.status == 2)
            #expect(output.standardError.split(separator: "\n").count == 1 && output.standardError.contains(mention), "\(output.standardError)")
        }
    }
}
