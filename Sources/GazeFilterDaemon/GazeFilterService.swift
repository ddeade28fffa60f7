#if canImport(Glibc)
import Glibc
#endif
import CommandLineSupport
import Foundation
import GazeFilterConfiguration
import GazeKit
import LinearDynamics
import ZeroMQ

/// The daemon's one service: subscribes to raw gaze, filters each stream, publishes every
/// estimate, records raw samples, reports statistics, reloads on request, and stops cleanly.
///
/// `run()` lasts until shutdown is requested through `control` (SIGTERM/SIGINT), then
/// flushes recordings, closes the sockets and returns. Everything on the sample path reuses
/// storage made when a stream first appears.
public final class GazeFilterService {
    private var configuration: DaemonConfiguration
    private let control: ServiceControl
    private var logger: Logger
    private let notifier: SystemdNotifier

    private var parameters: ParameterSource
    /// Reads configuration, parameter files and allowed keys for reloads, off the sample path.
    private let loader: ParameterLoader
    private var table: StreamTable
    /// The streams by table index; nil where a stream was evicted (the index is reused).
    private var streams: [ServedStream?] = []
    /// Streams fed by a Pupil Capture/Service, each with its own connection.
    private var pupilSources: [PupilSource] = []
    private var recorder: RecordingWriter?
    /// The daemon's CURVE key pair and allowed keys, when `curve_secret_key` is set.
    private let curveKeyPair: CurveKeyFile?
    private var allowedKeys: Set<[UInt8]> = []
    private var authenticator: CurveAuthenticator?
    private var reportedRefusals: UInt64 = 0
    /// Estimates encoded and not yet sent. The first `immediateSends` messages of each drain
    /// of the input go out at once (light load: no added latency); past that the daemon is
    /// behind, and estimates are sent 64 at a time, so libzmq wakes its I/O thread once per
    /// batch rather than per message (about +30% throughput here).
    private var outbox = Outbox(capacity: 64)
    static let immediateSends = 16

    /// A fixed set of reusable encoders, the streams their messages are for, and whether each
    /// is a fixed-lag estimate (`gaze.smooth.<stream>`) rather than a filtered one.
    struct Outbox {
        var encoders: [CleanGazeEncoder]
        var streams: [Int]
        var smoothed: [Bool]
        var count = 0
        var isFull: Bool { count == encoders.count }

        init(capacity: Int) {
            encoders = (0..<capacity).map { _ in CleanGazeEncoder() }  // a buffer each, made now
            streams = Array(repeating: 0, count: capacity)
            smoothed = Array(repeating: false, count: capacity)
        }
    }

    /// Where the binary frames Pupil attaches after a payload are read into and forgotten.
    private let scratch = ZMQMessage()
    private var unattributedMalformed: UInt64 = 0
    private var rejectedStreams: UInt64 = 0
    private var evictedStreams: UInt64 = 0
    private let startTime = monotonicSeconds()
    /// The last statistics summary logged at info, and when the next may be: an idle daemon logs
    /// nothing, a busy one a line per `statisticsLogInterval` at most.
    private var loggedSummary = "", nextSummaryLog = -Double.infinity
    private var loadedReloadGeneration = 0
    private var reloadPending = false

    /// A service for `configuration`; `reloadConfiguration` re-reads config and flags on SIGHUP
    /// (on the loader's thread). `maximumOpenRecordings` is the recorder's bound on open files,
    /// which the caller derives from the descriptor limit.
    /// - Throws: `GazeFileError` when the parameters or the CURVE certificate cannot be loaded,
    ///   or the recording directory cannot be made.
    public init(configuration: DaemonConfiguration, reloadConfiguration: @escaping @Sendable () throws -> DaemonConfiguration,
                control: ServiceControl, logger: Logger, notifier: SystemdNotifier, maximumOpenRecordings: Int? = nil) throws {
        self.configuration = configuration
        self.control = control
        self.logger = logger
        self.notifier = notifier
        parameters = try ParameterSource(path: configuration.parametersPath,
                                         binocularPath: configuration.hasBinocularStreams ? configuration.binocularParametersPath : nil,
                                         directory: configuration.parametersDirectory, maximumStreamFiles: configuration.maximumStreams)
        loader = ParameterLoader(parameters: parameters, configuration: configuration, reloadConfiguration: reloadConfiguration)
        table = StreamTable(capacity: min(configuration.maximumStreams, 4096))
        curveKeyPair = try configuration.curveSecretKey.map { path throws(GazeFileError) in try CurveAuthenticator.readKeyPair(path) }
        if curveKeyPair != nil {
            if let directory = configuration.curveAllowedKeys {
                let (keys, problems) = CurveAuthenticator.readAllowed(directory)
                allowedKeys = keys
                for problem in problems { logger.error("allowed keys: \(problem)", kind: "allowed keys") }
            }
            if allowedKeys.isEmpty { logger.warning("CURVE is on and no client key is allowed (curve_allowed_keys): every client will be refused") }
        }
        if let directory = configuration.recordDirectory {
            let log = logger
            recorder = try RecordingWriter(directory: directory, maximumOpenFiles: maximumOpenRecordings ?? configuration.maximumOpenRecordings) { message in
                log.error(message)
            }
        }
        streams.reserveCapacity(min(configuration.maximumStreams, 4096))
    }

    /// A socket that could not be bound or connected, named for the log.
    public struct EndpointError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs until shutdown; returns after sockets are closed and recordings flushed.
    /// - Throws: `EndpointError` when a socket cannot be bound or connected, `ZMQError` for
    ///   other ZeroMQ failures.
    public func run() throws {
        let context = try ZMQContext()
        let input = try ZMQSocket(context, type: .subscriber)
        let output = try ZMQSocket(context, type: .publisher)
        defer {
            input.close()
            output.close()
            for source in pupilSources { source.close() }
            recorder?.close(within: 0.3)  // SIGTERM is honoured within a second, whatever the backlog
        }
        if let curveKeyPair {
            let authenticator = try CurveAuthenticator(context: context, keyPair: curveKeyPair, allowed: allowedKeys)
            try authenticator.secure(input, domain: "input")
            try authenticator.secure(output, domain: "output")
            self.authenticator = authenticator
        }
        defer { authenticator?.close() }
        let highWaterMark = Int32(clamping: configuration.highWaterMark)
        try input.setReceiveHighWaterMark(highWaterMark)
        try output.setSendHighWaterMark(highWaterMark)
        try output.setLinger(milliseconds: 300)  // estimates still queued at shutdown go out, within the second
        for prefix in configuration.subscriptions { try input.subscribe("gaze.raw." + prefix) }
        for name in configuration.pupilSources.keys.sorted() {
            pupilSources.append(try PupilSource(context: context, stream: name, settings: configuration.pupilSources[name]!,
                                                highWaterMark: highWaterMark))
        }
        for (socket, role, endpoint, mode) in [(input, "input", configuration.inputEndpoint, configuration.inputMode),
                                               (output, "output", configuration.outputEndpoint, configuration.outputMode)] {
            do {
                switch mode {
                case .bind: try socket.bind(endpoint)
                case .connect: try socket.connect(endpoint)
                }
            } catch {
                throw EndpointError(description: "cannot \(mode.rawValue) the \(role) socket to \(endpoint): \(error)")
            }
        }
        let inputEndpoint = (try? input.lastEndpoint).flatMap { $0.isEmpty ? nil : $0 } ?? configuration.inputEndpoint
        let outputEndpoint = (try? output.lastEndpoint).flatMap { $0.isEmpty ? nil : $0 } ?? configuration.outputEndpoint
        let served = configuration.subscriptions == [""] ? "gaze.raw.*" : configuration.subscriptions.map { "gaze.raw.\($0)*" }.joined(separator: ", ")
        logger.info("listening for \(served) on \(inputEndpoint), publishing gaze.clean.* on \(outputEndpoint), parameters \(parameters.globalPath)"
                    + (parameters.binocularPath.map { " (binocular streams: \($0))" } ?? "") + ", "
                    + (recorder != nil ? "recording to \(configuration.recordDirectory ?? "")" : "not recording (--no-record)")
                    + (authenticator.map { ", CURVE server key \($0.publicKey), \(allowedKeys.count) client keys allowed" } ?? ""))
        for source in pupilSources { logger.info("stream \(source.stream): from Pupil Remote \(source.settings.remote), topic \(source.settings.topic.debugDescription)") }
        notifier.ready(status: "filtering \(inputEndpoint) -> \(outputEndpoint)")

        let topic = ZMQMessage(), payload = ZMQMessage()
        // The input first, then each Pupil source, then the authenticator's handler and monitors.
        let poller = try ZMQPoller([(input, .readable)] + pupilSources.map { ($0.subscriber, .readable) }
                                   + (authenticator?.pollSockets.map { ($0, ZMQ.PollEvents.readable) } ?? []))
        var nextStatistics = monotonicSeconds() + configuration.statisticsInterval
        var nextEviction = monotonicSeconds() + 1
        let watchdogPeriod = notifier.watchdogInterval.map { $0 / 2 }
        var nextWatchdog = monotonicSeconds()

        while !control.shutdownRequested.load(ordering: .acquiring) {
            try poller.poll(timeoutMilliseconds: 100)
            if poller.events(at: 0).contains(.readable) {
                // Drain what is queued, a bounded batch at a time so timers and signals stay timely.
                var handled = 0
                while handled < 4096, try input.receive(into: topic, flags: .dontWait) {
                    handled += 1
                    var frames = 1
                    var hasPayload = false
                    if topic.hasMore {
                        _ = try input.receive(into: payload)
                        frames += 1
                        hasPayload = true
                        while payload.hasMore {  // extra frames: read them all, then report
                            _ = try input.receive(into: payload)
                            frames += 1
                        }
                    }
                    if frames != 2 || !hasPayload {
                        unattributedMalformed += 1
                        report(topic: topic, "malformed message: \(GazeWireError.wrongFrameCount(frames))", kind: "malformed")
                        continue
                    }
                    handle(topic: topic, payload: payload, output: output)
                    if handled <= Self.immediateSends { sendOutbox(output) }
                }
                sendOutbox(output)
            }
            for (index, source) in pupilSources.enumerated() where poller.events(at: index + 1).contains(.readable) {
                try drain(source, topic: topic, payload: payload, output: output)
            }
            if let authenticator { try serveAuthentication(authenticator) }
            let now = monotonicSeconds()
            for source in pupilSources { source.maintain(now: now) { logger.info($0) } }
            if let watchdogPeriod, now >= nextWatchdog {
                notifier.watchdog()
                nextWatchdog = now + watchdogPeriod
            }
            if now >= nextStatistics {
                publishStatistics(output: output, now: now)
                nextStatistics = now + configuration.statisticsInterval
            }
            if now >= nextEviction {
                evictIdleStreams(now: now, output: output)
                nextEviction = now + min(1, configuration.evictAfterSeconds / 4)
            }
            let generation = control.reloadGeneration.load(ordering: .acquiring)
            if generation != loadedReloadGeneration {
                loadedReloadGeneration = generation
                if !reloadPending { notifier.reloading() }
                reloadPending = true
                loader.request()  // read on the loader's thread; applied below when ready
            }
            if let reading = loader.take() {
                apply(reading)
                // A new lag or state size flushed a stream's fixed-lag estimates: publish them.
                for index in streams.indices where streams[index] != nil { enqueueSmoothed(index, output) }
                sendOutbox(output)
            }
        }
        // Shutdown: the samples still waiting for later ones get their fixed-lag estimates from
        // what is known, and go out with the linger.
        for index in streams.indices where streams[index] != nil {
            streams[index]!.filter.flushSmoothed()
            enqueueSmoothed(index, output)
        }
        sendOutbox(output)
        notifier.stopping()
        logger.info("stopping: \(table.count) streams, \(streams.reduce(0) { $0 + ($1?.filter.counters.published ?? 0) }) estimates published")
    }

    // MARK: The sample path

    private func handle(topic: ZMQMessage, payload: ZMQMessage, output: ZMQSocket) {
        let index: Int
        do {
            index = try topic.withUnsafeBytes { (bytes) throws(GazeWireError) -> Int in
                let name = try GazeTopic.unvalidatedStreamName(inRawTopic: bytes)
                if let known = table.find(name) { return known }  // the table holds only valid names
                try GazeTopic.validate(name: name)
                // A stream is made by its first well-formed sample (of its kind): junk never takes a slot.
                let binocular = configuration.streamOverrides.isEmpty ? configuration.streamDefaults.binocular
                    : configuration.model(for: String(decoding: name, as: UTF8.self)).binocular
                _ = try payload.withUnsafeBytes { (payload) throws(GazeWireError) in try RawGazeDecoder.decode(payload, binocular: binocular) }
                guard table.count < configuration.maximumStreams else { throw .streamLimitReached(configuration.maximumStreams) }
                guard let index = register(name) else { throw .streamLimitReached(configuration.maximumStreams) }
                return index
            }
        } catch .streamLimitReached(let limit) {
            rejectedStreams += 1
            report(topic: topic, "sample rejected: \(GazeWireError.streamLimitReached(limit))", kind: "rejected")
            return
        } catch {
            unattributedMalformed += 1
            report(topic: topic, "malformed message: \(error)", kind: "malformed")
            return
        }
        do {
            let recorder = self.recorder, slot = outbox.count
            let outcome = try payload.withUnsafeBytes { (bytes) throws(GazeWireError) -> GazeStreamFilter.Outcome in
                try streams[index]!.handle(payload: bytes, recorder: recorder, encoder: &outbox.encoders[slot])
            }
            guard outcome == .estimate else { return }
        } catch {
            report(topic: topic, "malformed message: \(error)", kind: "malformed")  // counted by the stream
            return
        }
        outbox.streams[outbox.count] = index
        outbox.smoothed[outbox.count] = false
        outbox.count += 1
        if outbox.isFull { sendOutbox(output) }
        enqueueSmoothed(index, output)
    }

    /// Queues every fixed-lag estimate stream `index` has ready, after its filtered one.
    private func enqueueSmoothed(_ index: Int, _ output: ZMQSocket) {
        while streams[index]!.encodeNextSmoothed(into: &outbox.encoders[outbox.count]) {
            outbox.streams[outbox.count] = index
            outbox.smoothed[outbox.count] = true
            outbox.count += 1
            if outbox.isFull { sendOutbox(output) }
        }
    }

    /// Reads what a Pupil source has queued (a bounded batch), and filters each gaze datum:
    /// mapped to pixels, with its confidence for the stream's loss rule. Frames after the
    /// payload (Pupil's binary attachments) are read and ignored.
    private func drain(_ source: PupilSource, topic: ZMQMessage, payload: ZMQMessage, output: ZMQSocket) throws {
        var handled = 0
        let settings = source.settings
        while handled < 4096, try source.subscriber.receive(into: topic, flags: .dontWait) {
            handled += 1
            source.lastMessage = monotonicSeconds()
            var frames = 1
            if topic.hasMore {
                _ = try source.subscriber.receive(into: payload)
                frames += 1
                var extra = payload.hasMore
                while extra {  // binary attachments: skipped
                    _ = try source.subscriber.receive(into: scratch)
                    extra = scratch.hasMore
                }
            }
            guard frames == 2 else {
                unattributedMalformed += 1
                report(topic: topic, "malformed Pupil message on stream \(source.stream): a topic without a payload", kind: "malformed")
                continue
            }
            let index: Int
            if let known = source.streamIndex {
                index = known
            } else if let known = source.stream.utf8.withContiguousStorageIfAvailable({ table.find(UnsafeRawBufferPointer($0)) }) ?? nil {
                index = known
                source.streamIndex = known
            } else {
                guard table.count < configuration.maximumStreams else {
                    rejectedStreams += 1
                    report(topic: topic, "sample rejected: \(GazeWireError.streamLimitReached(configuration.maximumStreams))", kind: "rejected")
                    continue
                }
                guard let registered = Array(source.stream.utf8).withUnsafeBytes({ register($0) }) else { continue }
                index = registered
                source.streamIndex = index
            }
            let binocular = streams[index]?.filter.model.binocular ?? false
            do {
                try topic.withUnsafeBytes { (topicBytes) throws(GazeWireError) in
                    try payload.withUnsafeBytes { (bytes) throws(GazeWireError) in
                        try settings.samples(topic: topicBytes, payload: bytes, binocular: binocular) { sample in deliver(index, sample, output: output) }
                    }
                }
            } catch {
                streams[index]?.filter.counters.malformed += 1
                report(topic: topic, "malformed Pupil message on stream \(source.stream): \(error)", kind: "malformed")
            }
            if handled <= Self.immediateSends { sendOutbox(output) }
        }
        sendOutbox(output)
    }

    /// Filters one decoded sample of stream `index` and queues its estimate.
    private func deliver(_ index: Int, _ sample: RawGazeSample, output: ZMQSocket) {
        let slot = outbox.count
        guard streams[index]!.handle(sample: sample, recorder: recorder, encoder: &outbox.encoders[slot]) == .estimate else { return }
        outbox.streams[slot] = index
        outbox.smoothed[slot] = false
        outbox.count += 1
        if outbox.isFull { sendOutbox(output) }
        enqueueSmoothed(index, output)
    }

    /// Publishes the estimates in the outbox, in the order they were made.
    private func sendOutbox(_ output: ZMQSocket) {
        for slot in 0..<outbox.count {
            do {
                let stream = streams[outbox.streams[slot]]!
                try output.send(outbox.smoothed[slot] ? stream.smoothTopic : stream.cleanTopic, flags: [.sendMore, .dontWait])
                try output.send(outbox.encoders[slot].bytes, flags: .dontWait)
            } catch {
                logger.error("cannot publish on \(configuration.outputEndpoint): \(error)", kind: "publish")
            }
        }
        outbox.count = 0
    }

    /// Adds a stream on its first well-formed sample (allocation here is once per stream).
    /// Nil (logged) when it is binocular and no binocular parameters were read, which the
    /// configuration rules out (they are read whenever a stream is binocular).
    private func register(_ name: UnsafeRawBufferPointer) -> Int? {
        let text = String(decoding: name, as: UTF8.self)
        let model = configuration.model(for: text)
        let chosen = parameters.parameters(for: text, binocular: model.binocular)
        guard let chosenParameters = chosen.parameters else {
            logger.error("stream \(text): binocular, and no binocular parameters were read (binocular_params); its samples are dropped", kind: "stream parameters")
            return nil
        }
        let index = table.insert(name)
        if let error = chosen.error { logger.error("stream \(text): \(error); using \(chosen.source)", kind: "stream parameters") }
        // A stream whose loss rule reads confidence, or whose source sends it, records it too.
        let keepsConfidence = model.loss.needsConfidence || configuration.pupilSources[text] != nil
        let recorderID = recorder?.register(stream: text, keepsConfidence: keepsConfidence, binocular: model.binocular) ?? -1
        let stream = ServedStream(name: text, filter: GazeStreamFilter(parameters: chosenParameters, model: model),
                                  parameterSource: chosen.source, recorderID: recorderID)
        if index < streams.count { streams[index] = stream } else { streams.append(stream) }
        logger.info("new stream \(text) (parameters \(chosen.source))", kind: "new stream")
        return index
    }

    /// Logs a message that was not filtered (malformed, or of a stream over the limit),
    /// rate-limited per `kind` (the counters say how many there were). The text is built only
    /// for the lines that are logged, so a flood of junk costs no formatting.
    private func report(topic: ZMQMessage, _ problem: @autoclosure () -> String, kind: StaticString) {
        logger.warning("topic \(topic.withUnsafeBytes { EscapedText.quoted($0, limit: 80) }): \(problem())", kind: kind)
    }

    /// Answers queued ZAP requests and counts failed handshakes (never waits), logging refusals
    /// (rate-limited: the counters in `gaze.stats` say how many).
    private func serveAuthentication(_ authenticator: CurveAuthenticator) throws(ZMQError) {
        try authenticator.serve()
        if authenticator.counters.refusedKeys > reportedRefusals, let refused = authenticator.lastRefused {
            reportedRefusals = authenticator.counters.refusedKeys
            logger.warning("CURVE: refused a client key not allowed on the \(refused.domain): \(refused.key)", kind: "refused key")
        }
    }

    /// Evicts streams silent for `evict_after_s`: closes their recording file and frees their
    /// slot (a later sample of the same name makes it a new stream, appending to its file).
    private func evictIdleStreams(now: Double, output: ZMQSocket) {
        let limit = UInt64(configuration.evictAfterSeconds * 1e9)
        let clock = monotonicNanoseconds()
        for index in streams.indices {
            guard let stream = streams[index], clock &- stream.lastArrival > limit else { continue }
            // Its samples still waiting for later ones get their fixed-lag estimates first.
            streams[index]!.filter.flushSmoothed()
            enqueueSmoothed(index, output)
            sendOutbox(output)
            if stream.recorderID >= 0 { recorder?.release(stream.recorderID) }
            table.remove(index)
            streams[index] = nil
            for source in pupilSources where source.streamIndex == index { source.streamIndex = nil }
            evictedStreams += 1
            logger.info("stream \(stream.name) evicted after \(configuration.evictAfterSeconds) s without a sample", kind: "evicted")
        }
    }

    // MARK: Statistics

    private func publishStatistics(output: ZMQSocket, now: Double) {
        var writer = JSONTextWriter()
        writer.beginObject()
        writer.key("uptime_s"); writer.number(((now - startTime) * 1000).rounded() / 1000)
        writer.key("streams")
        writer.beginObject()
        var totals = StreamCounters()
        for case let stream? in streams {
            let c = stream.filter.counters
            writer.key(stream.name)
            writer.beginObject()
            writer.key("received"); writer.integer(Int(c.received))
            writer.key("published"); writer.integer(Int(c.published))
            writer.key("masked"); writer.integer(Int(c.masked))
            writer.key("implausible"); writer.integer(Int(c.implausible))
            if stream.filter.model.binocular { writer.key("one_eye"); writer.integer(Int(c.oneEye)) }
            writer.key("dropped"); writer.integer(Int(c.dropped))
            writer.key("malformed"); writer.integer(Int(c.malformed))
            writer.key("bridged_steps"); writer.integer(Int(c.bridgedSteps))
            writer.key("resets"); writer.integer(Int(c.resets))
            writer.key("singular"); writer.integer(Int(c.singular))
            writer.key("diverged"); writer.integer(Int(c.diverged))
            writer.key("step_ns_mean"); writer.number(c.published == 0 ? 0 : (Double(c.stepNanosecondsTotal) / Double(c.published)).rounded())
            writer.key("step_ns_max"); writer.integer(Int(c.stepNanosecondsMax))
            writer.key("params"); writer.string(stream.parameterSource)
            writer.endObject()
            totals.received += c.received
            totals.published += c.published
            totals.masked += c.masked
            totals.dropped += c.dropped
            totals.malformed += c.malformed
        }
        writer.endObject()
        if !pupilSources.isEmpty {
            writer.key("pupil")
            writer.beginObject()
            for source in pupilSources {
                writer.key(source.stream)
                writer.beginObject()
                writer.key("remote"); writer.string(source.settings.remote)
                writer.key("backbone")
                if let connected = source.connected { writer.string(connected) } else { writer.number(.nan) }  // null
                writer.key("connections"); writer.integer(Int(source.connections))
                writer.endObject()
            }
            writer.endObject()
        }
        writer.key("malformed_unattributed"); writer.integer(Int(unattributedMalformed))
        writer.key("rejected_streams"); writer.integer(Int(rejectedStreams))
        writer.key("evicted_streams"); writer.integer(Int(evictedStreams))
        if let authenticator {
            let counters = authenticator.counters
            writer.key("security")
            writer.beginObject()
            writer.key("curve"); writer.value(.bool(true))
            writer.key("allowed_keys"); writer.integer(authenticator.allowed.count)
            writer.key("accepted"); writer.integer(Int(counters.accepted))
            writer.key("refused_keys"); writer.integer(Int(counters.refusedKeys))
            writer.key("failed_handshakes"); writer.integer(Int(counters.failedHandshakes))
            writer.endObject()
        }
        // Always present, so a consumer can tell "not recording" from an old daemon.
        writer.key("recording")
        writer.beginObject()
        writer.key("enabled"); writer.bool(recorder != nil)
        writer.key("directory")
        if let directory = configuration.recordDirectory, recorder != nil { writer.string(directory) } else { writer.value(.null) }
        if let recorder {
            let statistics = recorder.statistics
            writer.key("written"); writer.integer(Int(statistics.written))
            writer.key("failed"); writer.integer(Int(statistics.failed))
            writer.key("pending"); writer.integer(statistics.pending)
            writer.key("open_files"); writer.integer(statistics.openFiles)
        }
        writer.endObject()
        writer.endObject()
        do {
            _ = try output.send(GazeTopic.statistics, flags: [.sendMore, .dontWait])
            _ = try output.send(writer.text, flags: .dontWait)
        } catch {
            logger.error("cannot publish statistics: \(error)")
        }
        let summary = "\(table.count) streams, received \(totals.received), published \(totals.published), masked \(totals.masked), dropped \(totals.dropped), malformed \(totals.malformed + unattributedMalformed)"
        if logger.level <= .debug {
            logger.debug("stats: " + summary)
        } else if summary != loggedSummary && now >= nextSummaryLog {
            logger.info("stats: " + summary)
            loggedSummary = summary
            nextSummaryLog = now + configuration.statisticsLogInterval
        }
        if logger.level <= .debug {
            for case let stream? in streams {
                let c = stream.filter.counters
                logger.debug("stream \(stream.name): received \(c.received) published \(c.published) masked \(c.masked) dropped \(c.dropped) malformed \(c.malformed) bridged \(c.bridgedSteps) resets \(c.resets)")
            }
        }
    }

    // MARK: Reload

    /// Applies a reading the loader finished (SIGHUP): the configuration, every parameter
    /// file and the allowed CURVE keys. A file that failed validation is reported and what was
    /// in force stays in force. Only in-memory work here: the files were read on the loader's thread.
    private func apply(_ reading: ParameterLoader.Reading) {
        defer {
            reloadPending = false
            notifier.ready(status: "reloaded")
        }
        var next = reading.configuration
        if let failure = reading.configurationFailure {
            logger.error("reload: configuration not reloaded: \(failure)")
            next = configuration
        }
        if next.inputEndpoint != configuration.inputEndpoint || next.outputEndpoint != configuration.outputEndpoint
            || next.inputMode != configuration.inputMode || next.outputMode != configuration.outputMode
            || next.recordDirectory != configuration.recordDirectory || next.highWaterMark != configuration.highWaterMark
            || next.maximumOpenRecordings != configuration.maximumOpenRecordings || next.curveSecretKey != configuration.curveSecretKey {
            logger.warning("reload: endpoint, high-water-mark, recording and CURVE key changes take effect at the next restart")
            next.inputEndpoint = configuration.inputEndpoint
            next.outputEndpoint = configuration.outputEndpoint
            next.inputMode = configuration.inputMode
            next.outputMode = configuration.outputMode
            next.recordDirectory = configuration.recordDirectory
            next.highWaterMark = configuration.highWaterMark
            next.maximumOpenRecordings = configuration.maximumOpenRecordings
            next.curveSecretKey = configuration.curveSecretKey
        }
        if next.subscriptions != configuration.subscriptions || next.pupilSources != configuration.pupilSources {
            logger.warning("reload: subscription and Pupil source changes take effect at the next restart")
            next.subscriptions = configuration.subscriptions
            next.pupilSources = configuration.pupilSources
        }
        if next.keepingEyes(of: configuration) != next {
            // A stream's eyes decide its wire format, recording layout and parameter shape.
            logger.warning("reload: changes of \"binocular\" take effect at the next restart")
            next = next.keepingEyes(of: configuration)
        }
        configuration = next
        logger.level = next.logLevel
        if let failure = reading.globalFailure {  // the default or binocular file
            logger.error("reload: \(failure); keeping the parameters in force")
        }
        parameters = reading.parameters
        if let (keys, problems) = reading.allowedKeys, curveKeyPair != nil {
            for problem in problems { logger.error("reload: allowed keys: \(problem)", kind: "allowed keys") }
            if keys != allowedKeys { logger.info("reload: \(keys.count) client keys allowed (were \(allowedKeys.count))") }
            allowedKeys = keys
            authenticator?.replaceAllowed(keys)
        }
        var changed: [String] = []
        for index in streams.indices {
            guard var stream = streams[index] else { continue }
            let model = configuration.model(for: stream.name)
            var chosen = parameters.parameters(for: stream.name, binocular: model.binocular)
            if let error = chosen.error {
                logger.error("reload: stream \(stream.name): \(error); keeping the parameters in force", kind: "reload stream")
                chosen = (stream.filter.parameters, stream.parameterSource, nil)
            }
            stream.filter.model = model
            if let new = chosen.parameters, new != stream.filter.parameters {
                stream.filter.replaceParameters(new)
                changed.append("\(stream.name) (\(chosen.source))")
            }
            stream.parameterSource = chosen.source
            streams[index] = stream
        }
        logger.info("reloaded: \(Self.changedModels(changed, of: table.count)); default parameters \(parameters.globalPath), \(recorder != nil ? "recording to \(configuration.recordDirectory ?? "")" : "not recording (--no-record)")")
    }

    /// The reload log's account of which streams took a new model and from which file, the
    /// first few named (the line stays bounded with thousands of streams).
    static func changedModels(_ changed: [String], of count: Int) -> String {
        guard !changed.isEmpty else { return "no stream's model changed (\(count) streams)" }
        let named = changed.prefix(8).joined(separator: ", ")
        let more = changed.count > 8 ? " and \(changed.count - 8) more" : ""
        return "\(changed.count) of \(count) streams took a new model: \(named)\(more)"
    }
}
