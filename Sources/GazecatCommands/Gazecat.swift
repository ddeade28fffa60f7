#if canImport(Glibc)
import Glibc
#endif
import CommandLineSupport
import Foundation
import GazeKit
import ZeroMQ

/// `gazecat`: replays a gaze file as a live stream (`pub`) and prints what is published (`sub`).
public enum Gazecat {
    static let pubSpec = CommandSpec(
        name: "gazecat pub", summary: "Replay an observation CSV as a live gaze stream (gaze.raw.<stream>).",
        options: [
            OptionSpec("input", .value(placeholder: "OBS.csv"), required: true, help: "header t,x,y (gazefit sample output works); empty cells are sent as lost (-1)"),
            OptionSpec("stream", .value(placeholder: "NAME"), required: true, help: "stream name: 1-64 of [A-Za-z0-9_.:-]"),
            OptionSpec("rate", .value(placeholder: "HZ"), help: "send at this rate instead of at the file's own timestamps"),
            OptionSpec("burst", help: "send as fast as possible"),
            OptionSpec("endpoint", .value(placeholder: "E"), help: "where the daemon's input is (default tcp://127.0.0.1:5555)"),
            OptionSpec("bind", help: "bind the endpoint instead of connecting to it"),
            OptionSpec("wait", .value(placeholder: "SECONDS"), help: "how long to wait for a subscriber before giving up (default 10)"),
        ],
        notes: "Waits until a subscriber (the daemon) has subscribed, so no sample is lost to the ZeroMQ slow-joiner race.")
    static let subSpec = CommandSpec(
        name: "gazecat sub", summary: "Print published messages, one JSON line each: {\"topic\": …, \"message\": …}.",
        options: [
            OptionSpec("topic", .value(placeholder: "PREFIX"), help: "topic prefix to subscribe to (default gaze.clean.)"),
            OptionSpec("endpoint", .value(placeholder: "E"), help: "the daemon's output (default tcp://127.0.0.1:5556)"),
            OptionSpec("bind", help: "bind the endpoint instead of connecting to it"),
            OptionSpec("count", .value(placeholder: "N"), help: "exit after N messages"),
            OptionSpec("timeout", .value(placeholder: "SECONDS"), help: "exit after this long without a message"),
        ])
    /// The command table.
    public static let group = CommandGroup(
        name: "gazecat", summary: "Replay gaze files as live ZeroMQ streams and print what gazefilterd publishes.",
        commands: [("pub", pubSpec), ("sub", subSpec)])

    /// Runs one `gazecat` command line (without the program name) and returns the exit status.
    public static func run(_ arguments: [String]) -> Int32 {
        group.run(arguments, isBadInput: { $0 is GazeFileError }) { command, options in
            command == "pub" ? try publish(options) : try subscribe(options)
        }
    }

    static func fail(_ message: String, status: Int32) -> Int32 {
        try? StandardStream.error.write("gazecat: \(message)\n")
        return status
    }

    static func publish(_ options: ParsedOptions) throws -> Int32 {
        let path = try options.require("input")
        let stream = try options.require("stream")
        guard GazeTopic.isValid(name: stream) else {
            throw UsageError(command: "gazecat pub", "--stream \"\(stream)\" is not a valid stream name (1-64 of [A-Za-z0-9_.:-], not starting with a dot)")
        }
        let rate = try options.number("rate", requirement: "a positive number") { $0 > 0 }
        let wait = try options.number("wait", requirement: "a positive number") { $0 > 0 } ?? 10
        let file = try ObservationFile.read(path, masking: MaskingPolicy(masksNegativeValues: false))
        guard file.observations.dimension == 2 else {
            throw GazeFileError(path: path, line: 1, "gaze files have two columns after t (x, y), this one has \(file.observations.dimension)")
        }
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .extendedPublisher)
        try socket.setSendHighWaterMark(0)
        try socket.setLinger(milliseconds: 5000)
        let endpoint = options.value("endpoint") ?? "tcp://127.0.0.1:5555"
        if options.flag("bind") { try socket.bind(endpoint) } else { try socket.connect(endpoint) }
        // Wait for a subscription covering our topic (XPUB hands subscriptions to us).
        let topic = GazeTopic.raw(stream)
        try socket.setReceiveTimeout(milliseconds: Int32(wait * 1000))
        var subscribed = false
        while !subscribed, let frames = try socket.receiveMultipart() {
            if let frame = frames.first, frame.first == 1, topic.starts(with: frame.dropFirst()) { subscribed = true }
        }
        guard subscribed else { return fail("no subscriber for \(String(decoding: topic, as: UTF8.self)) at \(endpoint) within \(wait) s", status: 1) }

        var encoder = RawGazeEncoder()
        let start = monotonic()
        let firstTime = file.times.first ?? 0
        for index in 0..<file.observations.count {
            if !options.flag("burst") {
                let due = rate.map { Double(index) / $0 } ?? (file.times[index] - firstTime)
                let delay = due - (monotonic() - start)
                if delay > 0 { usleep(UInt32(min(delay, 10) * 1_000_000)) }
            }
            let values = file.observations[index] ?? [-1, -1]
            encoder.encode(RawGazeSample(t: file.times[index], x: values[0], y: values[1]))
            try socket.send(topic, flags: .sendMore)
            try socket.send(encoder.bytes)
        }
        return 0
    }

    static func subscribe(_ options: ParsedOptions) throws -> Int32 {
        let count = try options.integer("count", in: 1...Int.max)
        let timeout = try options.number("timeout", requirement: "a positive number") { $0 > 0 }
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .subscriber)
        try socket.setReceiveHighWaterMark(0)
        try socket.subscribe(options.value("topic") ?? "gaze.clean.")
        let endpoint = options.value("endpoint") ?? "tcp://127.0.0.1:5556"
        if options.flag("bind") { try socket.bind(endpoint) } else { try socket.connect(endpoint) }
        if let timeout { try socket.setReceiveTimeout(milliseconds: Int32(min(timeout * 1000, 2e9))) }
        var received = 0
        var buffered = [UInt8]()
        func flush() throws {
            try StandardStream.output.write(buffered)
            buffered.removeAll(keepingCapacity: true)
        }
        defer { try? flush() }
        while count.map({ received < $0 }) ?? true {
            guard let frames = try socket.receiveMultipart() else { break }
            received += 1
            let topic = String(decoding: frames[0], as: UTF8.self)
            let payload = frames.count > 1 ? String(decoding: frames[1], as: UTF8.self) : ""
            let message = payload.first == "{" ? payload : JSONTextWriter.quoted(payload)
            let line = "{\"topic\":\(JSONTextWriter.quoted(topic)),\"message\":\(message)}\n"
            buffered.append(contentsOf: line.utf8)
            if buffered.count > 1 << 16 || socket.hasNothingQueued { try flush() }
        }
        return 0
    }

    static func monotonic() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
