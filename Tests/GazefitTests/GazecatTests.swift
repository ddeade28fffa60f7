#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import Synchronization
import Testing
import ZeroMQ
import _TestSupport

/// The `gazecat` executable, run as a process against real ZeroMQ sockets on ipc:// endpoints
/// in a temporary directory.
@Suite struct GazecatTests {
    /// A tool process left running in the background (a `gazecat sub`), its output collected.
    final class BackgroundTool: Sendable {
        let process: Process
        private let output = Mutex<(out: Data, err: Data)>((Data(), Data()))
        private let done = DispatchGroup()

        init(_ name: String, _ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath(name))
            process.arguments = arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            self.process = process
            for (pipe, isError) in [(out, false), (err, true)] {
                done.enter()
                DispatchQueue.global().async { [self] in
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    output.withLock { if isError { $0.err = data } else { $0.out = data } }
                    done.leave()
                }
            }
        }

        /// How the process ended and what it printed.
        struct Finished {
            var status: Int32
            var standardOutput: String
            var standardError: String
        }

        /// Waits for the process to exit (killing it after `timeout` seconds) and returns its output.
        func finish(timeout: Double = 60) -> Finished {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            done.wait()
            let (out, err) = output.withLock { $0 }
            return Finished(status: process.terminationStatus,
                                 standardOutput: String(decoding: out, as: UTF8.self),
                                 standardError: String(decoding: err, as: UTF8.self))
        }
    }

    /// The lines of a tool's stderr.
    static func lines(_ text: String) -> [Substring] { text.split(separator: "\n", omittingEmptySubsequences: false).dropLast(text.hasSuffix("\n") ? 1 : 0).map { $0 } }

    static func parse(_ line: Substring) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// A parsed JSON value written back with sorted keys, for comparing values.
    static func canonical(_ value: Any?) -> Data? {
        guard let value else { return nil }
        return try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys])
    }

    @Test func pubWithABadFileExits2WithOneLineNamingTheLine() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bad.csv"
        try "t,x,y\n0,1,2\n0.1,abc,3\n".write(toFile: path, atomically: true, encoding: .utf8)
        let output = try runTool("gazecat", ["pub", "--input", path, "--stream", "s", "--endpoint", "ipc://\(directory)/none.sock", "--wait", "1"])
        #expect(output.status == 2)
        #expect(Self.lines(output.standardError).count == 1 && output.standardError.contains("\(path):3:"), "\(output.standardError)")
        let missing = try runTool("gazecat", ["pub", "--input", directory + "/missing.csv", "--stream", "s", "--endpoint", "ipc://\(directory)/none.sock"])
        #expect(missing.status == 2)
        #expect(Self.lines(missing.standardError).count == 1 && missing.standardError.contains(directory + "/missing.csv"), "\(missing.standardError)")
    }

    @Test func pubWithoutASubscriberExits1WithOneLine() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/gaze.csv"
        try "t,x,y\n0,1,2\n".write(toFile: path, atomically: true, encoding: .utf8)
        let output = try runTool("gazecat", ["pub", "--input", path, "--stream", "s", "--endpoint", "ipc://\(directory)/nobody.sock", "--wait", "0.2"])
        #expect(output.status == 1)
        #expect(Self.lines(output.standardError).count == 1 && output.standardError.contains("no subscriber for gaze.raw.s"), "\(output.standardError)")
    }

    @Test(arguments: ["3000000", "86401", "0", "-1", "nan", "inf", "soon"])
    func pubRejectsAWaitOutOfRange(_ wait: String) throws {
        let output = try runTool("gazecat", ["pub", "--input", "/nonexistent.csv", "--stream", "s", "--wait", wait])
        #expect(output.status == 2)
        #expect(Self.lines(output.standardError).count == 1 && output.standardError.contains("--wait must be a positive number of seconds up to 86400"), "\(output.standardError)")
    }

    /// sub on an endpoint where nothing is published: the timeout ends it with one line and exit 1,
    /// with and without --count; nothing on stdout.
    @Test func subTimingOutInSilenceSaysSoAndExits1() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "ipc://\(directory)/silent.sock"
        let silent = try runTool("gazecat", ["sub", "--endpoint", endpoint, "--timeout", "1"])
        #expect(silent.status == 1 && silent.standardOutput.isEmpty)
        #expect(Self.lines(silent.standardError) == ["gazecat: sub: no message within 1.0 s on \(endpoint)"], "\(silent.standardError)")
        let counted = try runTool("gazecat", ["sub", "--endpoint", endpoint, "--timeout", "0.5", "--count", "5"])
        #expect(counted.status == 1)
        #expect(Self.lines(counted.standardError) == ["gazecat: sub: no message for 0.5 s on \(endpoint): received 0 of 5"], "\(counted.standardError)")
    }

    /// A replay longer than the progress interval prints progress lines on stderr and a last one;
    /// --quiet prints none. Both replays run at once (6 s each) against their own subscriber.
    @Test func pubShowsProgressOnLongReplaysUnlessQuiet() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/gaze.csv"
        try ("t,x,y\n" + (0..<60).map { "\(Double($0) / 10),100,200\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
        var runs: [(quiet: Bool, sub: BackgroundTool, pub: BackgroundTool)] = []
        for quiet in [false, true] {
            let endpoint = "ipc://\(directory)/progress-\(quiet).sock"
            let sub = try BackgroundTool("gazecat", ["sub", "--bind", "--endpoint", endpoint, "--topic", "gaze.raw.", "--count", "60", "--timeout", "30"])
            let pub = try BackgroundTool("gazecat", ["pub", "--input", path, "--stream", "s", "--endpoint", endpoint, "--wait", "30"]
                                                    + (quiet ? ["--quiet"] : []))
            runs.append((quiet, sub, pub))
        }
        for run in runs {
            let pub = run.pub.finish(), sub = run.sub.finish()
            #expect(pub.status == 0 && sub.status == 0, "\(pub.standardError)\(sub.standardError)")
            #expect(Self.lines(sub.standardOutput).count == 60)
            let lines = Self.lines(pub.standardError)
            if run.quiet {
                #expect(pub.standardError.isEmpty, "\(pub.standardError)")
            } else {
                #expect(lines.count >= 2, "\(pub.standardError)")
                #expect(lines.dropLast().allSatisfy { $0.hasPrefix("gazecat pub: ") && $0.contains(" of 60 samples sent (") }, "\(pub.standardError)")
                #expect(lines.last?.hasPrefix("gazecat pub: all 60 samples sent in ") == true, "\(pub.standardError)")
            }
        }
    }

    /// pub → sub over ipc://, at the file's own timestamps: every sample arrives, in order,
    /// the lost one as -1, and pub reports nothing undelivered.
    @Test func pubToSubRoundTripArrivesCompleteAndInOrder() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/gaze.csv"
        let samples: [(Double, Double, Double)] = [(10, 100.5, 200.25), (10.01, 101, 201), (10.02, -1, -1), (10.03, 103.125, 203), (10.05, 0, 1e-3)]
        try ("t,x,y\n" + samples.map { "\($0.0),\($0.1),\($0.2)\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
        let endpoint = "ipc://\(directory)/roundtrip.sock"
        let sub = try BackgroundTool("gazecat", ["sub", "--bind", "--endpoint", endpoint, "--topic", "gaze.raw.", "--count", "\(samples.count)", "--timeout", "30"])
        let pub = try runTool("gazecat", ["pub", "--input", path, "--stream", "eye.1", "--endpoint", endpoint, "--wait", "30"])
        #expect(pub.status == 0 && pub.standardError.isEmpty, "\(pub.standardError)")
        let received = sub.finish()
        #expect(received.status == 0, "\(received.standardError)")
        let lines = Self.lines(received.standardOutput)
        #expect(lines.count == samples.count, "\(received.standardOutput)")
        for (line, sample) in zip(lines, samples) {
            let object = Self.parse(line)
            #expect(object?["topic"] as? String == "gaze.raw.eye.1", "\(line)")
            let message = object?["message"] as? [String: Any]
            #expect(message?["t"] as? Double == sample.0 && message?["x"] as? Double == sample.1 && message?["y"] as? Double == sample.2, "\(line)")
        }
    }

    /// Junk, multi-line, non-UTF-8, almost-JSON and multi-frame messages: every output line
    /// parses as JSON, valid one-line payloads are embedded as they are, the rest as strings,
    /// frames after the second under "more".
    @Test func subPrintsOneValidJSONLinePerMessageWhateverItReceives() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = "ipc://\(directory)/junk.sock"
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, type: .extendedPublisher)
        try publisher.setSendHighWaterMark(0)
        try publisher.setLinger(milliseconds: 5000)
        try publisher.bind(endpoint)
        func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
        // (frames, the expected "message", the expected "more"), the message as JSON text.
        let cases: [(frames: [[UInt8]], message: String, more: [String]?)] = [
            ([bytes("t.a"), bytes("{garbage")], #""{garbage""#, nil),
            ([bytes("t.a"), bytes("{\n  \"a\": 1\n}")], #""{\n  \"a\": 1\n}""#, nil),
            ([bytes("t.a"), [0xFF, 0xFE, 0x61]], #""\ufffd\ufffda""#, nil),
            ([bytes("t.a"), bytes(#"{"t": 1, "x": 2, "y": 3}"#)], #"{"t": 1, "x": 2, "y": 3}"#, nil),
            ([bytes("t.a"), bytes("[1,]")], #""[1,]""#, nil),
            ([bytes("t.a"), bytes(#"{"a": [1, 2,], "b": 3}"#)], #""{\"a\": [1, 2,], \"b\": 3}""#, nil),
            ([bytes("t.a"), [0xEF, 0xBB, 0xBF] + bytes(#"{"a":1}"#)], #""\ufeff{\"a\":1}""#, nil),
            ([bytes("t.a"), Array(#"{"a":1}"#.data(using: .utf16LittleEndian)!)], #""{\u0000\"\u0000a\u0000\"\u0000:\u00001\u0000}\u0000""#, nil),
            ([bytes("t.a"), bytes("{\"a\":1}\r\n")], #""{\"a\":1}\r\n""#, nil),
            ([bytes("t.a"), bytes("42")], "42", nil),
            ([bytes("t.a"), bytes(#""a string, with \"quotes\"""#)], #""a string, with \"quotes\"""#, nil),
            ([bytes("t.a"), []], #""""#, nil),
            ([bytes("t.a"), bytes(#"["a,]", "\\", 1]"#)], #"["a,]", "\\", 1]"#, nil),
            ([bytes("t.m"), bytes(#"{"a":1}"#), bytes("third"), [0xFF], bytes("fifth\n")], #"{"a":1}"#, ["third", "\u{FFFD}", "fifth\n"]),
            ([bytes("t.one")], "null", nil),
        ]
        let weirdTopic: [UInt8] = bytes("t\n\"q") + [0xFF]
        let all = cases + [([weirdTopic, bytes("{}")], "{}", nil)]
        let sub = try BackgroundTool("gazecat", ["sub", "--endpoint", endpoint, "--topic", "t", "--count", "\(all.count)", "--timeout", "30"])
        // The subscription reaching the XPUB means messages sent from now on are delivered.
        try publisher.setReceiveTimeout(milliseconds: 30_000)
        let subscription = try publisher.receiveMultipart()
        #expect(subscription == [[1] + bytes("t")])
        for (frames, _, _) in all { #expect(try publisher.sendMultipart(frames)) }
        let received = sub.finish()
        #expect(received.status == 0, "\(received.standardError)")
        let lines = Self.lines(received.standardOutput)
        #expect(lines.count == all.count, "\(received.standardOutput)")
        for (line, (frames, message, more)) in zip(lines, all) {
            let object = Self.parse(line)
            #expect(object != nil, "not JSON: \(line)")
            #expect(object?.keys.sorted() == (more == nil ? ["message", "topic"] : ["message", "more", "topic"]), "\(line)")
            #expect(object?["topic"] as? String == String(decoding: frames[0], as: UTF8.self), "\(line)")
            // Compare the message as parsed JSON values, written back canonically.
            let expected = try JSONSerialization.jsonObject(with: Data(message.utf8), options: .fragmentsAllowed)
            #expect(Self.canonical(object?["message"]) == Self.canonical(expected), "\(line) vs \(message)")
            #expect(object?["more"] as? [String] == more, "\(line)")
        }
        // Valid one-line JSON is embedded byte for byte.
        #expect(lines.count > 3 && lines[3] == #"{"topic":"t.a","message":{"t": 1, "x": 2, "y": 3}}"#)
        #expect(lines.count > 9 && lines[9] == #"{"topic":"t.a","message":42}"#)
    }

    /// A subscriber that stops reading: the samples pile up in ZeroMQ's queue, the 5 s linger
    /// at close runs out, and pub says so and exits 1.
    @Test func pubReportsWhenMessagesMayNotHaveBeenDelivered() throws {
        let directory = makeTemporaryDirectory("gazecat")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/long.csv"
        let count = 60_000  // about 3 MB on the wire: far more than the socket buffers hold
        try ("t,x,y\n" + (0..<count).map { "\(Double($0) / 1000),\(512 + $0 % 100),\(384 - $0 % 50)\n" }.joined())
            .write(toFile: path, atomically: true, encoding: .utf8)
        let endpoint = "ipc://\(directory)/stalled.sock"
        let context = try ZMQContext()
        let subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(10)
        try subscriber.subscribe("gaze.raw.")
        try subscriber.bind(endpoint)
        let pub = try BackgroundTool("gazecat", ["pub", "--input", path, "--stream", "s", "--endpoint", endpoint, "--burst", "--wait", "30"])
        // libzmq attaches a new connection (and sends our subscription over it) only when this
        // thread calls into the socket: look at its events, which receives nothing, until pub ends.
        let deadline = Date().addingTimeInterval(90)
        while pub.process.isRunning && Date() < deadline {
            _ = subscriber.hasNothingQueued
            usleep(10_000)
        }
        let output = pub.finish()
        #expect(output.status == 1)
        #expect(Self.lines(output.standardError).count == 1
                && output.standardError.contains("some of the \(count) messages sent may not have been delivered"), "\(output.standardError)")
        subscriber.close()
    }
}
