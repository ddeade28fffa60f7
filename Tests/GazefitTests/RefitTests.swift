#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CommandLineSupport
import GazeFilterConfiguration
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
        /// The job's arguments; an option in `extra` replaces the layout's own (an option given twice is an error).
        func arguments(_ extra: [String] = []) -> [String] {
            var base = ["--record-dir": records, "--params-dir": params, "--default-params": defaultParams, "--report-dir": reports,
                        "--min-samples": "500", "--iterations": "30"]
            for option in extra where base[option] != nil { base[option] = nil }
            return ["refit"] + base.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] } + extra
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

    static func report(_ output: ProcessOutput) throws -> [String: [String: JSONValue]] { try report(json: output.standardOutput) }

    /// The report's per-stream entries by stream name.
    static func report(json text: String) throws -> [String: [String: JSONValue]] {
        let json = try JSONValue.parse(Data(text.utf8))
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
        #expect(daemon.waitForLog("1 of 3 streams took a new model: lab (\(layout.params)/lab.json)"), "\(daemon.log)")
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
        #expect(output.standardError.contains("skipped 4 corrupt line(s), first at \(layout.records)/s/\(Self.today()).csv:101: x is not a number: \"garbage\""),
                "\(output.standardError)")
        let examples = report?["corrupt_examples"]?.array?.compactMap(\.string) ?? []
        #expect(examples.count == 4 && examples[1].hasSuffix(":201: has 1 field, expected 3 (t,x,y)"), "\(examples)")
        #expect(examples[2].hasSuffix(":301: has 2 fields, expected 3 (t,x,y)") && examples[3].hasSuffix(":401: has 4 fields, expected 3 (t,x,y)"), "\(examples)")
        #expect((report?["seconds"]?.number ?? 0) > 0)
        try ParameterFile.read(layout.params + "/s.json").parameters.validate()
    }

    @Test func aHeldLockMakesASecondJobStandAside() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 6))
        try FileManager.default.createDirectory(atPath: layout.params, withIntermediateDirectories: true)
        // Another job holds the stream's lock: here the test process, with flock itself.
        let descriptor = open(layout.params + "/.s.lock", O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        try #require(descriptor >= 0)
        try #require(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        let blocked = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(blocked.status == 1)
        #expect(try Self.report(blocked)["s"]?["decision"]?.string == "locked", "\(blocked.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/s.json"))
        // Released, the job runs.
        close(descriptor)
        let free = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(free.status == 0, "\(free.standardError)")
        #expect(try Self.report(free)["s"]?["decision"]?.string == "promoted", "\(free.standardOutput)")
        try ParameterFile.read(layout.params + "/s.json").parameters.validate()
    }

    /// A lock file root left behind (mode 0644, owned by root) must not block the service user:
    /// flock needs only a read-only descriptor.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func aLockFileOwnedByAnotherUserDoesNotBlockTheJob() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 16))
        for directory in [layout.params, layout.reports] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: layout.root)
        let lockPath = layout.params + "/.s.lock"
        try #require(FileManager.default.createFile(atPath: lockPath, contents: nil, attributes: [.posixPermissions: 0o644]))
        let output = try Self.runProgram("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", executablePath("gazefit")]
                                    + layout.arguments(["--reload", "none"]))
        #expect(output.status == 0, "\(output.standardError)")
        #expect(try Self.report(json: output.standardOutput)["s"]?["decision"]?.string == "promoted", "\(output.standardOutput)")
        var info = stat()
        #expect(stat(layout.params + "/s.json", &info) == 0 && info.st_uid == 65534)
    }

    /// Runs any program to completion, collecting its output.
    static func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, standardOutput: String, standardError: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        nonisolated(unsafe) var outData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// Waits (up to a minute, a deadline and not a timing assertion) until `pid` is stopped (state T).
    static func waitUntilStopped(_ pid: Int32) -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")"),
               let state = stat[close...].dropFirst(2).first {
                if state == "T" || state == "t" { return true }
                if state == "Z" || state == "X" { return false }
            }
            usleep(10_000)
        }
        return false
    }

    /// The job is stopped by its test hook at each install step, then killed with SIGKILL there:
    /// the parameters stay whole (the old ones), and the next run removes the temporary file and installs.
    @Test(arguments: ["backup-rename", "params-rename"])
    func aJobKilledDuringTheInstallLeavesValidParameters(step: String) throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 7))
        try FileManager.default.createDirectory(atPath: layout.params, withIntermediateDirectories: true)
        let own = layout.params + "/s.json", backup = layout.params + "/s.prev.json"
        try ParameterFile(parameters: Self.daemonModel).write(to: own)
        try ParameterFile(parameters: Self.truth).write(to: backup)  // from an earlier refit
        let old = try Data(contentsOf: URL(fileURLWithPath: own)), older = try Data(contentsOf: URL(fileURLWithPath: backup))
        let arguments = layout.arguments(["--reload", "none", "--min-improvement", "-1000"])

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executablePath("gazefit"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["GAZEFIT_TEST_STOP_BEFORE": step]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let stopped = Self.waitUntilStopped(process.processIdentifier)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try #require(stopped, "the job did not stop at \(step)")
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)

        // Killed with the temporary file written but not renamed: the installed files are the old ones, whole.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: layout.params).filter { $0.contains(".tmp-") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: own)) == old)
        try ParameterFile.read(own).parameters.validate()
        try ParameterFile.read(backup).parameters.validate()
        if step == "backup-rename" {
            #expect(try Data(contentsOf: URL(fileURLWithPath: backup)) == older)
            #expect(leftovers.count == 1 && leftovers[0].hasPrefix(".s.prev.json.tmp-"), "\(leftovers)")
        } else {
            #expect(try Data(contentsOf: URL(fileURLWithPath: backup)) == old)
            #expect(leftovers.count == 1 && leftovers[0].hasPrefix(".s.json.tmp-"), "\(leftovers)")
            // The new file was complete before the rename would have happened.
            try ParameterFile.read(layout.params + "/" + leftovers[0]).parameters.validate()
        }

        // The next run removes the leftover and installs: new parameters, the old ones as the backup.
        let output = try runTool("gazefit", arguments)
        #expect(output.status == 0, "\(output.standardError)")
        #expect(try Self.report(output)["s"]?["decision"]?.string == "promoted", "\(output.standardOutput)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout.params).filter { $0.contains(".tmp-") }.isEmpty)
        #expect(output.standardError.contains("removed \(layout.params)/\(leftovers.first ?? "?")"), "\(output.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: own)) != old)
        #expect(try ParameterFile.read(own).extra["metadata"]?.object?["decision"]?.string == "promoted")
        #expect(try Data(contentsOf: URL(fileURLWithPath: backup)) == old)
    }

    /// `sleep 30` with default signal dispositions and an empty signal mask (whatever the test
    /// runner ignores or blocks): a process that is not the daemon, to own a pid in a pid file.
    static func foreignProcess() throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var pid = pid_t()
        let arguments: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/sleep"), strdup("30"), nil]
        defer { arguments.forEach { free($0) } }
        let status = posix_spawn(&pid, "/bin/sleep", nil, &attributes, arguments, environ)
        guard status == 0 else { throw GazeFileError(path: "/bin/sleep", "posix_spawn: \(String(cString: strerror(status)))") }
        return pid
    }

    /// A pid no process can have: the kernel's pid_max (pids are below it).
    static func impossiblePid() -> pid_t {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)) ?? ""
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 4_194_304
    }

    /// Ends `pid` with SIGTERM, reaps it and returns the signal it died of: SIGTERM, unless it
    /// was sent SIGHUP before (a pending SIGHUP is delivered first, and ends `sleep`).
    static func endingSignal(_ pid: pid_t) -> Int32 {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return signal != 0 && signal != 0x7f ? signal : -1
    }

    @Test func dryRunInstallsNothingAndSignalsNoOne() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 8))
        let bystander = try Self.foreignProcess()
        let pidFile = layout.root + "/daemon.pid"
        try "\(bystander)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let output = try runTool("gazefit", layout.arguments(["--dry-run", "--reload", "pid-file", "--pid-file", pidFile]))
        #expect(Self.endingSignal(bystander) == SIGTERM)
        #expect(output.status == 0, "\(output.standardError)")
        let report = try Self.report(output)["s"]
        #expect(report?["decision"]?.string == "promoted" && report?["installed"]?.bool == false)
        #expect(report?["daemon"] == nil)
        #expect((report?["seconds"]?.number ?? 0) > 0)
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/s.json"))
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/s.prev.json"))
        let written = try FileManager.default.contentsOfDirectory(atPath: layout.reports)
        #expect(written.filter { $0.hasSuffix(".json") }.count == 1 && written.filter { $0.hasSuffix("-s.svg") }.count == 1, "\(written)")
    }

    /// A reload that was needed but did not reach the daemon fails the job (exit 1), with the
    /// parameters installed; a pid that is not gazefilterd's is never signalled.
    @Test func aReloadThatCannotReachTheDaemonFailsTheJob() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 9))
        let pidFile = layout.root + "/daemon.pid"
        let arguments = layout.arguments(["--reload", "pid-file", "--pid-file", pidFile, "--min-improvement", "-1000"])

        let bystander = try Self.foreignProcess()
        try "\(bystander)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let foreign = try runTool("gazefit", arguments)
        #expect(Self.endingSignal(bystander) == SIGTERM, "the foreign process was signalled")
        #expect(foreign.status == 1, "\(foreign.standardError)")
        let report = try Self.report(foreign)["s"]
        #expect(report?["installed"]?.bool == true)
        #expect(report?["daemon"]?.string?.contains("is \"sleep\", not gazefilterd") == true, "\(foreign.standardOutput)")
        #expect(report?["reason"]?.string?.contains("installed but the daemon was not told") == true)
        #expect(foreign.standardError.contains("not told"))
        try ParameterFile.read(layout.params + "/s.json").parameters.validate()

        // A pid no process can have, garbage, no pid file at all: the same.
        for (content, mention) in [("\(Self.impossiblePid())", "no process"), ("garbage", "does not hold a process id"),
                                  (nil, "cannot read the pid file \(pidFile): no such file")] {
            if let content { try content.write(toFile: pidFile, atomically: true, encoding: .utf8) } else { try FileManager.default.removeItem(atPath: pidFile) }
            let output = try runTool("gazefit", arguments)
            #expect(output.status == 1, "\(mention): \(output.standardError)")
            #expect(try Self.report(output)["s"]?["daemon"]?.string?.contains(mention) == true, "\(output.standardOutput)")
            #expect(!output.standardOutput.contains("could not be completed"), "Foundation's words: \(output.standardOutput)")
        }
        // Nothing installed, nothing to tell: 0.
        let refused = try runTool("gazefit", layout.arguments(["--reload", "pid-file", "--pid-file", pidFile, "--min-improvement", "1000"]))
        #expect(refused.status == 0, "\(refused.standardError)")
    }

    /// Too little observed data is skipped before EM, with the specific reason; masked samples do not count.
    @Test func dataProblemsAreSkippedWithTheirReason() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        let good = Self.samples(Self.truth, count: 1500, seed: 10)
        func lost(_ sample: Sample) -> Sample { (sample.t, -1, -1) }
        try layout.write(stream: "dark", good.map(lost))
        let sparse = good.enumerated().map { $0.offset % 4 == 0 ? $0.element : lost($0.element) }
        let observed = sparse.filter { $0.x >= 0 }.count
        try #require((300..<500).contains(observed))
        try layout.write(stream: "sparse", sparse)
        // The most recent 20% (the held-out part) all lost.
        try layout.write(stream: "late", good.enumerated().map { $0.offset >= 1200 ? lost($0.element) : $0.element })
        try FileManager.default.createDirectory(atPath: layout.records + "/empty", withIntermediateDirectories: true)
        let output = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(output.status == 0, "\(output.standardError)")
        let report = try Self.report(output)
        for stream in ["dark", "sparse", "late", "empty"] {
            #expect(report[stream]?["decision"]?.string == "skipped", "\(stream): \(output.standardOutput)")
            #expect(report[stream]?["iterations"]?.number == 0, "\(stream) ran EM")
        }
        #expect(report["dark"]?["reason"]?.string?.hasPrefix("all 1500 samples in the window are lost") == true)
        #expect(report["sparse"]?["reason"]?.string?.hasPrefix("too few samples: only \(observed) observed") == true)
        #expect(report["sparse"]?["observed_samples"]?.number == Double(observed) && report["sparse"]?["samples"]?.number == 1500)
        #expect(report["late"]?["reason"]?.string?.hasPrefix("the held-out part") == true)
        #expect(report["empty"]?["reason"]?.string?.hasPrefix("no recordings in the window") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: layout.params).filter { $0.hasSuffix(".json") }.isEmpty)
    }

    /// Clock restarts, stray files, repeated --stream and reserved names, as the job reports them.
    @Test func theReportNamesRestartsStrayFilesAndBadNames() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        // The tracker restarted its clock halfway: both halves are used.
        try layout.write(stream: "s", Self.samples(Self.truth, count: 800, seed: 11, start: 500) + Self.samples(Self.truth, count: 800, seed: 12))
        for name in ["notadate.csv", "2099-01-01.csv", "x copy.csv"] {
            try Self.recording(Self.samples(Self.daemonModel, count: 100, seed: 13, start: 9000)).write(toFile: "\(layout.records)/s/\(name)", atomically: true, encoding: .utf8)
        }
        let output = try runTool("gazefit", layout.arguments(["--reload", "none", "--stream", "s", "--stream", "s", "--stream", "s.prev"]))
        #expect(output.status == 1, "\(output.standardError)")  // s.prev is not a stream name
        let json = try JSONValue.parse(Data(output.standardOutput.utf8))
        let streams = json.object?["streams"]?.array ?? []
        #expect(streams.compactMap { $0.object?["stream"]?.string } == ["s", "s.prev"])
        let report = try Self.report(output)
        #expect(report["s"]?["decision"]?.string == "promoted", "\(output.standardOutput)")
        #expect(report["s"]?["clock_restarts"]?.number == 1)
        #expect(report["s"]?["samples"]?.number == 1600 && report["s"]?["sequences"]?.number == 2)
        #expect(report["s"]?["ignored_files"]?.array?.compactMap(\.string).sorted() == ["2099-01-01.csv", "notadate.csv", "x copy.csv"])
        #expect(output.standardError.contains("ignored 3 file(s)"))
        #expect(report["s.prev"]?["decision"]?.string == "failed")
        #expect(report["s.prev"]?["reason"]?.string?.contains("must not end with") == true, "\(output.standardOutput)")
        #expect(!FileManager.default.fileExists(atPath: layout.params + "/s.prev.json"))  // one install, no backup overwritten
        let metadata = try ParameterFile.read(layout.params + "/s.json").extra["metadata"]?.object
        #expect(metadata?["clock_restarts"]?.number == 1 && metadata?["observed_samples"]?.number == report["s"]?["observed_samples"]?.number)
    }

    /// Recordings that are all unreadable fail the stream (exit 1): the data exists, so this is
    /// not "nothing to fit".
    @Test func aWindowOfOnlyUnreadableRecordingsFails() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try FileManager.default.createDirectory(atPath: "\(layout.records)/s/\(UTCCalendar.day()).csv", withIntermediateDirectories: true)
        let output = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(output.status == 1)
        let report = try Self.report(output)["s"]
        #expect(report?["decision"]?.string == "failed", "\(output.standardOutput)")
        #expect(report?["reason"]?.string?.hasPrefix("cannot read any recording of the window (1 unreadable; first ") == true)
    }

    /// File-system problems read as the system's reason, never Foundation's `Error Domain=…` dump;
    /// an unreadable recording is counted and logged and the rest is used.
    @Test func fileSystemProblemsAreNamedPlainly() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "s", Self.samples(Self.truth, count: 1500, seed: 15))
        // A "recording" of yesterday that cannot be read (a directory: even root cannot read it as a file).
        let unreadable = "\(layout.records)/s/\(UTCCalendar.day(secondsAgo: 86_400)).csv"
        try FileManager.default.createDirectory(atPath: unreadable, withIntermediateDirectories: true)
        let blocker = layout.root + "/plain-file"
        try "x".write(toFile: blocker, atomically: true, encoding: .utf8)
        let output = try runTool("gazefit", layout.arguments(["--reload", "none", "--params-dir", blocker + "/params"]))
        #expect(output.status == 1)
        let report = try Self.report(output)["s"]
        #expect(report?["reason"]?.string == "\(blocker): exists and is not a directory", "\(output.standardOutput)")
        let readable = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(readable.status == 0, "\(readable.standardError)")
        let counted = try Self.report(readable)["s"]
        #expect(counted?["decision"]?.string == "promoted" && counted?["unreadable_files"]?.number == 1, "\(readable.standardOutput)")
        #expect(counted?["unreadable_examples"]?.array?.first?.string?.hasPrefix(unreadable + ": ") == true)
        #expect(readable.standardError.contains("cannot read \(unreadable): "), "\(readable.standardError)")
        let missing = try runTool("gazefit", layout.arguments(["--reload", "none", "--record-dir", layout.root + "/nowhere"]))
        #expect(missing.status == 1)
        #expect(missing.standardOutput.contains("nowhere: cannot list the recordings: No such file or directory"), "\(missing.standardOutput)")
        for text in [output.standardOutput, output.standardError, readable.standardOutput, missing.standardOutput] {
            #expect(!text.contains("Domain") && !text.contains("UserInfo"), "\(text)")
        }
    }

    /// Only the stream's own temporary files (exact AtomicFile names) are removed, and in the
    /// report directory only those whose writer is gone.
    @Test func leftoverCleanupTakesOnlyTheJobsOwnTemporaryFiles() throws {
        let layout = try Self.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "a", Self.samples(Self.truth, count: 1500, seed: 14))
        try FileManager.default.createDirectory(atPath: layout.params, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layout.reports, withIntermediateDirectories: true)
        let dead = Self.impossiblePid(), alive = getpid()
        let ours = [".a.json.tmp-\(dead)-123", ".a.prev.json.tmp-\(dead)-4"]
        let others = [".a.json.tmp-1-2.keep", ".a.json.tmp-x-1", ".ab.json.tmp-1-2", ".b.json.tmp-1-2", ".a.prev.json.tmp-", "a.json.tmp-1-2"]
        for name in ours + others { try "x".write(toFile: layout.params + "/" + name, atomically: false, encoding: .utf8) }
        let deadReports = [".20261125T000000Z.json.tmp-\(dead)-7", ".20261125T000000Z-a.svg.tmp-\(dead)-8"]
        let keptReports = [".20261125T000000Z.json.tmp-\(alive)-9", ".notes.json.tmp-\(dead)-1"]
        for name in deadReports + keptReports { try "x".write(toFile: layout.reports + "/" + name, atomically: false, encoding: .utf8) }
        let output = try runTool("gazefit", layout.arguments(["--reload", "none", "--min-improvement", "1000"]))
        #expect(output.status == 0, "\(output.standardError)")
        let params = Set(try FileManager.default.contentsOfDirectory(atPath: layout.params))
        #expect(params.isDisjoint(with: ours), "\(params)")
        #expect(params.isSuperset(of: others), "\(params)")
        let reports = Set(try FileManager.default.contentsOfDirectory(atPath: layout.reports))
        #expect(reports.isDisjoint(with: deadReports) && reports.isSuperset(of: keptReports), "\(reports)")
    }

    @Test func theShippedConfigLoads() throws {
        var options = ParsedOptions(command: "gazefit refit")
        options.set("config", to: packageRoot + "/config/gazefit.json")  // its daemon_config is found beside it
        let configuration = try RefitConfiguration.load(options)
        #expect(configuration.daemon.model(for: "example-tobii-60").loss == .notANumber, "the daemon's config was not read")
        let defaults = DefaultLocations.current
        #expect(configuration.recordDirectory == defaults.recordDirectory && configuration.reload == .pidFile)
        #expect(configuration.pidFile == defaults.pidFile && configuration.reportDirectory == defaults.reportDirectory)
        #expect(configuration.fitting == [.transition, .transitionCovariance, .observation, .observationCovariance])
    }

    @Test func badSettingsFailWithOneLine() throws {
        let directory = makeTemporaryDirectory("refit")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var cases: [([String], [String])] = [(["refit", "--reload", "carrier-pigeon"], ["--reload"]),
                                             (["refit", "--holdout", "1.5"], ["--holdout"]),
                                             (["refit", "--window-hours", "1e300"], ["--window-hours"]),
                                             (["refit", "--max-samples", "2.5"], ["--max-samples"]),
                                             (["refit", "--max-samples", "1e20"], ["--max-samples"]),
                                             (["refit", "--min-samples", "1e20"], ["--min-samples"]),
                                             (["refit", "--iterations", "1e20"], ["--iterations"])]
        let settings = ["\"window_hours\": -1", "\"window_hours\": 1e300", "\"window_hours\": 87601", "\"max_samples\": 9.3e18",
                        "\"max_samples\": 1e20", "\"max_samples\": 2.5", "\"max_samples\": 0", "\"min_samples\": 1e20",
                        "\"min_sequence\": 1e20", "\"iterations\": 1e20", "\"iterations\": 0.5", "\"split_gap_s\": 1", "\"loss\": \"negative\""]
        for (index, setting) in settings.enumerated() {
            let path = directory + "/c\(index).json"
            try "{\(setting)}".write(toFile: path, atomically: true, encoding: .utf8)
            let key = String(setting.split(separator: "\"")[0])
            cases.append((["refit", "--config", path], [path, "\"\(key)\""]))
        }
        for (arguments, mentions) in cases {
            let output = try runTool("gazefit", arguments)
            #expect(output.status == 2, "\(arguments): \(output.standardError)")
            #expect(output.standardError.split(separator: "\n").count == 1 && mentions.allSatisfy(output.standardError.contains), "\(output.standardError)")
        }
    }
}
