#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import GazeRefit
import LinearDynamics
import Testing
import _TestSupport

/// `gazefit refit` as a process, on real recordings, with the real daemon.
@Suite(.serialized) struct RefitTests {
    /// What the daemon starts from.
    static let daemonModel = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[4, 1], [1, 3]])!, observation: .identity(2),
        observationCovariance: Matrix(nestedRows: [[26, 19.6], [19.6, 26.7]])!, initialMean: [512, 384],
        initialCovariance: Matrix.diagonal([0.1, 0.1]))
    /// What the simulated tracker really does: a little more motion, much less noise.
    static let truth = ModelParameters(
        transition: .identity(2), transitionCovariance: Matrix(nestedRows: [[6, 1], [1, 4]])!,
        observation: .identity(2), observationCovariance: Matrix(nestedRows: [[3, 0.5], [0.5, 2]])!, initialMean: [512, 384],
        initialCovariance: Matrix.diagonal([0.1, 0.1]))

    typealias Sample = (t: Double, x: Double, y: Double)

    static func samples(_ model: ModelParameters, count: Int, seed: UInt64, start: Double = 0) -> [Sample] {
        var generator = SeededGenerator(seed: seed)
        let drawn = model.sample(steps: count, using: &generator).observations
        var lossGenerator = SeededGenerator(seed: seed + 1000)
        return (0..<count).map { i in
            let lost = lossGenerator.nextUniform() < 0.03
            return (start + Double(i) / 250, lost ? -1 : drawn[i]![0], lost ? -1 : drawn[i]![1])
        }
    }

    static func recording(_ samples: [Sample]) -> String {
        "t,x,y\n" + samples.map { "\($0.t),\($0.x),\($0.y)\n" }.joined()
    }

    static func today() -> String { UTCCalendar.day() }

    struct Layout {
        let root: String
        var records: String { root + "/rec" }
        var params: String { root + "/params" }
        var reports: String { root + "/reports" }
        var defaultParams: String { root + "/default.json" }
        func arguments(_ extra: [String] = []) -> [String] {
            ["refit", "--record-dir", records, "--params-dir", params, "--default-params", defaultParams, "--report-dir", reports,
             "--min-samples", "500", "--iterations", "30"] + extra
        }
        func write(stream: String, _ samples: [Sample]) throws {
            try FileManager.default.createDirectory(atPath: "\(records)/\(stream)", withIntermediateDirectories: true)
            try recording(samples).write(toFile: "\(records)/\(stream)/\(today()).csv", atomically: true, encoding: .utf8)
        }
    }

    static func layout() throws -> Layout {
        let layout = Layout(root: makeTemporaryDirectory("refit"))
        try ParameterFile(parameters: daemonModel).write(to: layout.defaultParams)
        return layout
    }

    static func report(_ output: ProcessOutput) throws -> [String: [String: JSONValue]] {
        let json = try JSONValue.parse(Data(output.standardOutput.utf8))
        var byStream: [String: [String: JSONValue]] = [:]
        for entry in json.object?["streams"]?.array ?? [] { byStream[entry.object!["stream"]!.string!] = entry.object! }
        return byStream
    }

    @Test func refitPromotesBetterParametersAndTheDaemonUsesThemWithoutRestart() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        let pidFile = layout.root + "/daemon.pid"
        let daemon = try DaemonProcess(directory: layout.root, arguments: [
            "--params", layout.defaultParams, "--params-dir", layout.params, "--record-dir", layout.records,
            "--pid-file", pidFile, "--stats-interval", "0.2"])
        let client = try GazeTestClient(daemon: daemon)
        // "lab" behaves like `truth`; "steady" like the daemon's own model (nothing to improve).
        let lab = Self.samples(Self.truth, count: 3000, seed: 1), steady = Self.samples(Self.daemonModel, count: 3000, seed: 2)
        for i in 0..<3000 {
            try client.publish(stream: "lab", json: "{\"t\": \(lab[i].t), \"x\": \(lab[i].x), \"y\": \(lab[i].y)}")
            try client.publish(stream: "steady", json: "{\"t\": \(steady[i].t), \"x\": \(steady[i].x), \"y\": \(steady[i].y)}")
        }
        #expect(try client.receive(count: 6000) { $0.hasPrefix("gaze.clean.") && !$0.hasSuffix("probe") }.count == 6000)
        // Wait for the recorder to have flushed both streams.
        let deadline = Date().addingTimeInterval(10)
        func recorded(_ stream: String) -> Int {
            ((try? String(contentsOfFile: "\(layout.records)/\(stream)/\(Self.today()).csv", encoding: .utf8)) ?? "").split(separator: "\n").count - 1
        }
        while (recorded("lab") < 3000 || recorded("steady") < 3000) && Date() < deadline { usleep(50_000) }

        let output = try runTool("gazefit", layout.arguments(["--stream", "lab", "--stream", "steady", "--pid-file", pidFile, "--min-improvement", "0.01"]))
        #expect(output.status == 0, "\(output.standardError)")
        let report = try Self.report(output)
        #expect(report["lab"]?["decision"]?.string == "promoted", "\(output.standardOutput)")
        #expect(report["steady"]?["decision"]?.string == "refused", "\(output.standardOutput)")
        #expect(report["lab"]?["daemon"]?.string?.hasPrefix("SIGHUP sent to pid") == true)
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/steady.json"))
        let installed = try ParameterFile.read(layout.params + "/lab.json")
        #expect(installed.extra["metadata"]?.object?["decision"]?.string == "promoted")
        let curve = report["lab"]?["loglikelihoods"]?.numbers ?? []
        #expect(zip(curve, curve.dropFirst()).allSatisfy { $1 >= $0 - 1e-9 * abs($0) })
        // The fit moved towards the truth: much smaller observation noise than the daemon's model.
        #expect(installed.parameters.observationCovariance[0, 0] < 10)
        let figures = try FileManager.default.contentsOfDirectory(atPath: layout.reports).filter { $0.hasSuffix(".svg") }
        #expect(figures.count == 2)
        #expect(try String(contentsOfFile: layout.reports + "/" + figures[0], encoding: .utf8).contains("<polyline"))

        // The daemon reloads; after a pause that restarts the stream, its estimates follow the new model.
        #expect(daemon.waitForLog("1 of 3 streams changed model"), "\(daemon.log)")
        let later = Self.samples(Self.truth, count: 200, seed: 3, start: 100)
        for sample in later { try client.publish(stream: "lab", json: "{\"t\": \(sample.t), \"x\": \(sample.x), \"y\": \(sample.y)}") }
        let messages = try client.receive(count: 200) { $0 == "gaze.clean.lab" }.map { try JSONValue.parse(Data($0.payload)).object! }
        let expected = try GazeStreamReference.expected(samples: later, parameters: installed.parameters)
        #expect(messages.count == 200)
        for (message, want) in zip(messages, expected) {
            let state = message["state"]?.numbers ?? []
            let ok = zip(state, want.state).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) } && state.count == 2
            #expect(ok, "\(message) vs \(want)")
            if !ok { break }
        }

        // A refit that cannot improve on the new model is refused and changes nothing.
        let before = try Data(contentsOf: URL(fileURLWithPath: layout.params + "/lab.json"))
        let again = try runTool("gazefit", layout.arguments(["--stream", "lab", "--pid-file", pidFile, "--min-improvement", "0.01"]))
        #expect(again.status == 0)
        #expect(try Self.report(again)["lab"]?["decision"]?.string == "refused", "\(again.standardOutput)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: layout.params + "/lab.json")) == before)
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/lab.prev.json"))
        #expect(daemon.terminate()?.status == 0)
    }

    @Test func corruptRecordingsAreCountedAndTheRestIsFitted() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        var text = Self.recording(Self.samples(Self.truth, count: 2000, seed: 5))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var damaged = lines
        damaged[100] = "0.4,garbage,1"
        damaged[200] = "\u{0}\u{1}binary"
        damaged[300] = "1.2,3"
        damaged[400] = "1.6,3,4,5"
        text = damaged.joined(separator: "\n") + "9.0,512"  // a last line still being written
        try FileManager.default.createDirectory(atPath: layout.records + "/s", withIntermediateDirectories: true)
        try text.write(toFile: "\(layout.records)/s/\(Self.today()).csv", atomically: true, encoding: .utf8)
        let output = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(output.status == 0, "\(output.standardError)")
        let report = try Self.report(output)["s"]
        #expect(report?["corrupt_lines"]?.number == 4)
        #expect(report?["incomplete_lines"]?.number == 1)
        #expect(report?["samples"]?.number == 1996)
        #expect(report?["decision"]?.string == "promoted")
        #expect(output.standardError.contains("skipped 4 corrupt line(s)"))
        try ParameterFile.read(layout.params + "/s.json").parameters.validate()
    }

    @Test func aHeldLockMakesASecondJobStandAside() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 6))
        try FileManager.default.createDirectory(atPath: layout.params, withIntermediateDirectories: true)
        let lock = try #require(try FileLock(path: layout.params + "/.s.lock"))
        let blocked = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(blocked.status == 1)
        #expect(try Self.report(blocked)["s"]?["decision"]?.string == "locked")
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/s.json"))
        lock.unlock()
        // Two jobs at once: never both fitting the stream, and the result is whole.
        let first = Process(), second = Process()
        for process in [first, second] {
            process.executableURL = URL(fileURLWithPath: executablePath("gazefit"))
            process.arguments = layout.arguments(["--reload", "none"])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
        }
        first.waitUntilExit()
        second.waitUntilExit()
        #expect([first.terminationStatus, second.terminationStatus].contains(0))
        try ParameterFile.read(layout.params + "/s.json").parameters.validate()
    }

    @Test func aJobKilledAnywhereLeavesValidParameters() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 7))
        try FileManager.default.createDirectory(atPath: layout.params, withIntermediateDirectories: true)
        try ParameterFile(parameters: Self.daemonModel).write(to: layout.params + "/s.json")
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<12 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath("gazefit"))
            process.arguments = layout.arguments(["--reload", "none", "--min-improvement", "-1000"])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(generator.nextUniform() * 400_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // Whatever the moment, the parameters (and the previous copy) are whole and valid.
            try ParameterFile.read(layout.params + "/s.json").parameters.validate()
            if FileManager.default.fileExists(atPath: layout.params + "/s.prev.json") {
                try ParameterFile.read(layout.params + "/s.prev.json").parameters.validate()
            }
        }
        // A normal run afterwards cleans up what killed runs left behind.
        let output = try runTool("gazefit", layout.arguments(["--reload", "none", "--min-improvement", "-1000"]))
        #expect(output.status == 0, "\(output.standardError)")
        #expect(try Self.report(output)["s"]?["decision"]?.string == "promoted", "\(output.standardOutput)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: layout.params).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        #expect(FileManager.default.fileExists(atPath: layout.params + "/s.prev.json"))
    }

    @Test func dryRunInstallsNothing() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 8))
        let output = try runTool("gazefit", layout.arguments(["--dry-run", "--reload", "pid-file", "--pid-file", layout.root + "/none.pid"]))
        #expect(output.status == 0)
        let report = try Self.report(output)["s"]
        #expect(report?["decision"]?.string == "promoted" && report?["installed"]?.bool == false)
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/s.json"))
    }

    @Test func theShippedConfigLoads() throws {
        var configuration = RefitConfiguration()
        try configuration.apply(file: packageRoot + "/config/gazefit.json")
        #expect(configuration.recordDirectory == "/var/lib/gazefilter/recordings" && configuration.reload == .pidFile)
        #expect(configuration.fitting == [.transition, .transitionCovariance, .observation, .observationCovariance])
    }

    @Test func badSettingsFailWithOneLine() throws {
        let directory = makeTemporaryDirectory("refit")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "{\"window_hours\": -1}".write(toFile: directory + "/c.json", atomically: true, encoding: .utf8)
        for (arguments, mention) in [(["refit", "--config", directory + "/c.json"], "window_hours"),
                                     (["refit", "--reload", "carrier-pigeon"], "--reload"),
                                     (["refit", "--holdout", "1.5"], "--holdout")] {
            let output = try runTool("gazefit", arguments)
            #expect(output.status == 2)
            #expect(output.standardError.split(separator: "\n").count == 1 && output.standardError.contains(mention), "\(output.standardError)")
        }
    }
}
