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
            OptionSpec("input", .value(placeholder: "OBS.csv"), required: true, help: "header t,x,y (gazefit sample output works); empty cells are sent as lost (-1); or t,lx,ly,rx,ry for a binocular stream (an empty cell: that eye lost, sent as null)"),
            OptionSpec("stream", .value(placeholder: "NAME"), help: "stream name: 1-64 of [A-Za-z0-9_.:-] (required unless --as pupil)"),
            OptionSpec("rate", .value(placeholder: "HZ"), help: "send at this rate instead of at the file's own timestamps"),
            OptionSpec("burst", help: "send as fast as possible"),
            OptionSpec("endpoint", .value(placeholder: "E"), help: "where the daemon's input is (default tcp://127.0.0.1:5555)"),
            OptionSpec("bind", help: "bind the endpoint instead of connecting to it"),
            OptionSpec("wait", .value(placeholder: "SECONDS"), help: "how long to wait for a subscriber before giving up (default 10, at most \(Int(maximumWait)))"),
            OptionSpec("quiet", help: "print no progress lines"),
            OptionSpec("as", .value(placeholder: "SOURCE"), help: "gazefilter (default: JSON to the daemon's input) or pupil (play a Pupil Capture: msgpack datums on its backbone)"),
            OptionSpec("remote", .value(placeholder: "ENDPOINT"), help: "--as pupil: Pupil Remote to serve (default tcp://127.0.0.1:50020)"),
            OptionSpec("pupil-topic", .value(placeholder: "TOPIC"), help: "--as pupil: gaze.… (a gaze datum per row) or surfaces.<name> (a surface event per row) (default gaze.3d.01.)"),
            OptionSpec("width-px", .value(placeholder: "PIXELS"), help: "--as pupil: pixels that normalised x spans (default 1920)"),
            OptionSpec("height-px", .value(placeholder: "PIXELS"), help: "--as pupil: pixels that normalised y spans, flipped (default 1080)"),
            curveServerKeyOption, curveKeyOption,
        ],
        notes: """
            Waits until a subscriber (the daemon) has subscribed, so no sample is lost to the ZeroMQ slow-joiner race.
            At the file's own timestamps every gap is replayed in full, however long.
            At the end it gives ZeroMQ up to \(lingerMilliseconds / 1000) s to deliver what is queued; when that runs out
            (a subscriber gone or not reading), it says so and exits 1.
            A replay that lasts longer than \(Int(progressInterval)) s prints a progress line on stderr every \(Int(progressInterval)) s
            and one at the end (--quiet: none).
            Exit status: 0 when all was sent, 1 without a subscriber or when delivery may be incomplete, 2 for bad input.
            """)
    static let subSpec = CommandSpec(
        name: "gazecat sub", summary: "Print published messages, one JSON line each: {\"topic\": …, \"message\": …}.",
        options: [
            OptionSpec("topic", .value(placeholder: "PREFIX"), help: "topic prefix to subscribe to (default gaze.clean.)"),
            OptionSpec("endpoint", .value(placeholder: "E"), help: "the daemon's output (default tcp://127.0.0.1:5556)"),
            OptionSpec("bind", help: "bind the endpoint instead of connecting to it"),
            OptionSpec("count", .value(placeholder: "N"), help: "exit after N messages"),
            OptionSpec("timeout", .value(placeholder: "SECONDS"), help: "give up after this long without a message (see exit status)"),
            curveServerKeyOption, curveKeyOption,
        ],
        notes: """
            Exit status: 0 after --count messages, or (without --count) when --timeout passes in silence after at least
            one message; 1 when --timeout passes before the first message, or before --count messages (it says so on stderr);
            2 for bad input.
            Every line is one JSON object: {"topic": T, "message": M} and, for messages of more than two frames,
            "more": [the third and later frames]. M is the payload verbatim when it is valid UTF-8 JSON on one line
            (no line break, no byte-order mark, no trailing comma); otherwise, and always for the topic and the extra
            frames, a JSON string, with invalid UTF-8 bytes replaced by U+FFFD. A message of one frame has "message": null.
            """)
    /// The CURVE client flags of both commands.
    static let curveServerKeyOption = OptionSpec(
        "curve-server-key", .value(placeholder: "FILE"), help: "connect with CURVE to the daemon whose public certificate this is (its NAME.key); needs --curve-key")
    static let curveKeyOption = OptionSpec(
        "curve-key", .value(placeholder: "FILE"), help: "this client's certificate with its secret key (gazefilterd keygen's NAME.key_secret)")

    /// Makes `socket` a CURVE client when `--curve-server-key` and `--curve-key` are given.
    /// - Throws: `UsageError` when only one is given; `GazeFileError` for an unreadable certificate.
    static func applyCurve(_ options: ParsedOptions, to socket: ZMQSocket, command: String) throws {
        let server = options.value("curve-server-key"), own = options.value("curve-key")
        guard server != nil || own != nil else { return }
        guard let server, let own else { throw UsageError(command: command, "--curve-server-key and --curve-key go together") }
        let serverKey = try CurveKeyFile.read(server).publicKey
        let pair = try CurveKeyFile.read(own)
        guard let secretKey = pair.secretKey else {
            throw GazeFileError(path: own, "has no secret-key: give this client's NAME.key_secret")
        }
        try socket.makeCurveClient(serverKey: serverKey, publicKey: pair.publicKey, secretKey: secretKey)
    }

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
        let source = options.value("as") ?? "gazefilter"
        guard source == "gazefilter" || source == "pupil" else {
            throw UsageError(command: "gazecat pub", "--as must be gazefilter or pupil, got \"\(source)\"")
        }
        if source == "pupil" { return try publishAsPupil(options, path: path) }
        let stream = try options.require("stream")
        if let problem = GazeTopic.problem(name: stream) {
            throw UsageError(command: "gazecat pub", "--stream \"\(stream)\" is not a valid stream name: \(problem)")
        }
        let rate = try options.number("rate", requirement: "a positive number") { $0 > 0 }
        let wait = try options.number("wait", requirement: "a positive number of seconds up to \(Int(maximumWait))") { $0 > 0 && $0 <= maximumWait } ?? 10
        let file = try ObservationFile.read(path, model: .raw)
        guard file.observations.dimension == 2 || file.isBinocular else {
            throw GazeFileError(path: path, line: 1, "gaze files have two columns after t (x, y), or four (lx, ly, rx, ry: both eyes), this one has \(file.observations.dimension)")
        }
        let endpoint = options.value("endpoint") ?? "tcp://127.0.0.1:5555"
        let topic = GazeTopic.raw(stream)
        // Optional, so that the socket and then the context are released at known points:
        // releasing the context (zmq_ctx_term) is what waits for the queue to drain.
        var context: ZMQContext? = try ZMQContext()
        var socket: ZMQSocket? = try ZMQSocket(context!, type: .extendedPublisher)
        let sent: Int
        do {
            let socket = socket!
            try socket.setSendHighWaterMark(0)
            try socket.setLinger(milliseconds: lingerMilliseconds)
            try applyCurve(options, to: socket, command: "gazecat pub")
            if options.flag("bind") { try socket.bind(endpoint) } else { try socket.connect(endpoint) }
            // Wait for a subscription covering our topic (XPUB hands subscriptions to us).
            try socket.setReceiveTimeout(milliseconds: max(1, Int32(wait * 1000)))
            var subscribed = false
            while !subscribed, let frames = try socket.receiveMultipart() {
                if let frame = frames.first, frame.first == 1, topic.starts(with: frame.dropFirst()) { subscribed = true }
            }
            guard subscribed else { return fail("no subscriber for \(String(decoding: topic, as: UTF8.self)) at \(endpoint) within \(wait) s", status: 1) }

            var encoder = RawGazeEncoder()
            let start = monotonic()
            let firstTime = file.times.first ?? 0
            var progress = ProgressReport(total: file.observations.count, start: start, quiet: options.flag("quiet"))
            for index in 0..<file.observations.count {
                if !options.flag("burst") {
                    let due = rate.map { Double(index) / $0 } ?? (file.times[index] - firstTime)
                    sleep(until: start + due)
                }
                if file.isBinocular {  // both eyes; an empty cell (a lost eye) is sent as null
                    let values = file.observations[index] ?? [.nan, .nan, .nan, .nan]
                    encoder.encode(RawGazeSample(t: file.times[index], lx: values[0], ly: values[1], rx: values[2], ry: values[3]))
                } else {
                    let values = file.observations[index] ?? [-1, -1]
                    encoder.encode(RawGazeSample(t: file.times[index], x: values[0], y: values[1]))
                }
                try socket.send(topic, flags: .sendMore)
                try socket.send(encoder.bytes)
                progress.sent(index + 1)
            }
            sent = file.observations.count
            progress.finish()
        }
        // zmq_close returns at once; zmq_ctx_term then blocks until every queued message is
        // handed to the transport or the linger runs out, and tells neither how many were
        // left. libzmq offers no way to count them, so the wait itself is the signal: a
        // termination that lasted the whole linger had messages left to discard.
        socket = nil
        let closing = monotonic()
        context = nil
        let lingered = monotonic() - closing
        if lingered >= Double(lingerMilliseconds) / 1000 - 0.05 {
            return fail("ZeroMQ could not deliver everything within \(lingerMilliseconds / 1000) s at close: some of the \(sent) messages sent may not have been delivered", status: 1)
        }
        return 0
    }

    /// Seconds between two progress lines of `pub`.
    static let progressInterval = 5.0

    /// `pub`'s progress on stderr: a line every `progressInterval` seconds while a replay runs,
    /// and a last one when it ends, if it ran long enough to have printed any.
    struct ProgressReport {
        let total: Int, start: Double, quiet: Bool
        private var nextLine: Double, printed = false

        init(total: Int, start: Double, quiet: Bool) {
            self.total = total
            self.start = start
            self.quiet = quiet
            nextLine = start + Gazecat.progressInterval
        }

        /// After `count` samples were sent: a line when one is due.
        mutating func sent(_ count: Int) {
            guard !quiet else { return }
            let now = monotonic()
            guard now >= nextLine else { return }
            nextLine = now + Gazecat.progressInterval
            printed = true
            let percent = Int((Double(count) / Double(max(total, 1)) * 100).rounded(.down))
            try? StandardStream.error.write("gazecat pub: \(count) of \(total) samples sent (\(percent)%) in \(Int(now - start)) s\n")
        }

        /// The last line, when progress was shown.
        func finish() {
            guard printed else { return }
            try? StandardStream.error.write("gazecat pub: all \(total) samples sent in \(String(format: "%.1f", monotonic() - start)) s\n")
        }
    }

    /// `pub --as pupil`: the file replayed by a played Pupil Capture (`PupilReplay`).
    static func publishAsPupil(_ options: ParsedOptions, path: String) throws -> Int32 {
        var settings = PupilReplay.Settings()
        if let remote = options.value("remote") { settings.remote = remote }
        if let topic = options.value("pupil-topic") {
            guard topic.hasPrefix("gaze.") || topic.hasPrefix("surfaces.") else {
                throw UsageError(command: "gazecat pub", "--pupil-topic must start with gaze. or surfaces., got \"\(topic)\"")
            }
            settings.topic = topic
        }
        let pixels = { $0 >= 1 && $0 <= 100_000 } as (Double) -> Bool
        if let width = try options.number("width-px", requirement: "a number of pixels from 1 to 100000", where: pixels) { settings.width = width }
        if let height = try options.number("height-px", requirement: "a number of pixels from 1 to 100000", where: pixels) { settings.height = height }
        let rate = try options.number("rate", requirement: "a positive number") { $0 > 0 }
        let wait = try options.number("wait", requirement: "a positive number of seconds up to \(Int(maximumWait))") { $0 > 0 && $0 <= maximumWait } ?? 10
        let file = try ObservationFile.read(path, model: .raw)
        guard file.observations.dimension == 2 || file.isBinocular else {
            throw GazeFileError(path: path, line: 1, "gaze files have two columns after t (x, y), or four (lx, ly, rx, ry: both eyes), this one has \(file.observations.dimension)")
        }
        var progress = ProgressReport(total: file.observations.count, start: monotonic(), quiet: options.flag("quiet"))
        do {
            guard try PupilReplay.send(file, settings: settings, rate: rate, burst: options.flag("burst"), wait: wait,
                                       clock: monotonic, sent: { progress.sent($0) }) != nil else {
                return fail("no subscriber for \(settings.topic) on the Pupil backbone served for \(settings.remote) within \(wait) s", status: 1)
            }
            progress.finish()
        } catch let error as ZMQError {
            return fail("cannot serve Pupil Remote at \(settings.remote): \(error)", status: 1)
        }
        return 0
    }

    /// The longest `--wait` accepted, in seconds (a day): keeps the timeout in milliseconds
    /// well inside `Int32`.
    static let maximumWait = 86_400.0
    /// How long `pub` lets ZeroMQ deliver queued messages at close (ZMQ_LINGER).
    static let lingerMilliseconds: Int32 = 5000

    /// Sleeps until `deadline` on the monotonic clock, however far off, in steps of at most a
    /// second; returns at once for a deadline in the past (or not a number).
    static func sleep(until deadline: Double) {
        while true {
            let delay = deadline - monotonic()
            guard delay > 0 else { return }
            usleep(UInt32(min(delay, 1) * 1_000_000))
        }
    }

    static func subscribe(_ options: ParsedOptions) throws -> Int32 {
        let count = try options.integer("count", in: 1...Int.max)
        let timeout = try options.number("timeout", requirement: "a positive number") { $0 > 0 }
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .subscriber)
        try socket.setReceiveHighWaterMark(0)
        try socket.subscribe(options.value("topic") ?? "gaze.clean.")
        let endpoint = options.value("endpoint") ?? "tcp://127.0.0.1:5556"
        try applyCurve(options, to: socket, command: "gazecat sub")
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
            buffered.append(contentsOf: line(for: frames).utf8)
            if buffered.count > 1 << 16 || socket.hasNothingQueued { try flush() }
        }
        try flush()
        // Only a timeout ends the loop early: say so when it leaves the job undone.
        if let timeout, let count, received < count {
            return fail("sub: no message for \(timeout) s on \(endpoint): received \(received) of \(count)", status: 1)
        }
        if let timeout, received == 0 {
            return fail("sub: no message within \(timeout) s on \(endpoint)", status: 1)
        }
        return 0
    }

    /// The output line (with its newline) for one received message: always one valid JSON
    /// object, whatever the frames hold. See `subSpec`'s notes for the format.
    static func line(for frames: [[UInt8]]) -> String {
        var line = "{\"topic\":" + quoted(frames.first ?? []) + ",\"message\":"
        if frames.count > 1 {
            let payload = frames[1]
            line += isEmbeddableJSON(payload) ? String(decoding: payload, as: UTF8.self) : quoted(payload)
        } else {
            line += "null"
        }
        if frames.count > 2 {
            line += ",\"more\":[" + frames.dropFirst(2).map(quoted).joined(separator: ",") + "]"
        }
        return line + "}\n"
    }

    /// A frame as a JSON string literal (invalid UTF-8 bytes become U+FFFD).
    static func quoted(_ frame: [UInt8]) -> String { JSONTextWriter.quoted(String(decoding: frame, as: UTF8.self)) }

    /// Whether `payload` can be copied into an output line as it is: one JSON value (a
    /// fragment such as `42` too) in UTF-8 on a single line, valid to a strict parser.
    ///
    /// Foundation's `JSONSerialization` decides validity, but it accepts more than JSON:
    /// a byte-order mark, UTF-16 and UTF-32 text, and trailing commas (`[1,]`). Those are
    /// ruled out first, with line breaks and other control bytes, so that every line `sub`
    /// prints parses anywhere.
    static func isEmbeddableJSON(_ payload: [UInt8]) -> Bool {
        // Control bytes other than tab are never JSON outside strings nor raw inside them; this
        // rules out line breaks, and UTF-16 and UTF-32 text (an ASCII character has a NUL byte).
        guard !payload.isEmpty, !payload.contains(where: { $0 < 0x20 && $0 != 0x09 }) else { return false }
        guard !payload.starts(with: [0xEF, 0xBB, 0xBF]), String(validating: payload, as: UTF8.self) != nil else { return false }
        guard !hasTrailingComma(payload) else { return false }
        return (try? JSONSerialization.jsonObject(with: Data(payload), options: .fragmentsAllowed)) != nil
    }

    /// Whether a comma outside strings is followed (after whitespace) by `]` or `}`.
    static func hasTrailingComma(_ bytes: [UInt8]) -> Bool {
        var inString = false, escaped = false, afterComma = false
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            switch byte {
            case UInt8(ascii: " "), 0x09, 0x0A, 0x0D: continue
            case UInt8(ascii: "]"), UInt8(ascii: "}"): if afterComma { return true }
            case UInt8(ascii: "\""): inString = true
            default: break
            }
            afterComma = byte == UInt8(ascii: ",")
        }
        return false
    }

    /// Seconds on the monotonic clock (CLOCK_MONOTONIC), for pacing and for timing the close.
    static func monotonic() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}
