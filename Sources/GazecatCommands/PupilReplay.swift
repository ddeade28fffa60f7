#if canImport(Glibc)
import Glibc
#endif
import CommandLineSupport
import Foundation
import GazeKit
import ZeroMQ

/// `gazecat pub --as pupil`: replays a gaze file as a Pupil Capture would send it, for
/// demos and tests of a daemon whose stream's source is Pupil Core.
///
/// It serves Pupil Remote (REP at `--remote`, answering `SUB_PORT`, `PUB_PORT` and `t`) and
/// an IPC backbone (XPUB for subscribers, XSUB for publishers, forwarded) on free ports of
/// the remote's host, waits until the topic is subscribed, then sends each row as a msgpack
/// gaze datum (topic `gaze.…`) or a surface event holding one datum (topic `surfaces.…`):
/// pixels back to normalised coordinates (origin bottom-left) over `--width-px` ×
/// `--height-px`, the row's confidence from a `confidence` column, else 1 for a sample the
/// default loss rule keeps and 0 for a lost one.
///
/// A binocular file (`lx,ly,rx,ry`) is sent as Pupil's binocular mapper sends gaze: a row with
/// both eyes as one binocular datum (`gaze.3d.01.`, the point between the eyes), a row with one
/// eye as that eye's monocular datum (`gaze.3d.0.` the right eye, `gaze.3d.1.` the left), each
/// with its eye's confidence (`left_confidence`, `right_confidence`); the topic must then name
/// the mapper only (`gaze.3d.`, `gaze.2d.` or `gaze.`), so the daemon subscribes to all three.
enum PupilReplay {
    /// What `--as pupil` needs beyond the shared `pub` options.
    struct Settings {
        var remote = "tcp://127.0.0.1:50020"
        var topic = "gaze.3d.01."
        var width = 1920.0, height = 1080.0
    }

    /// Sends `file`; returns the number of rows sent, or nil when no one subscribed within `wait` seconds.
    static func send(_ file: ObservationFile, settings: Settings, rate: Double?, burst: Bool, wait: Double,
                     clock: () -> Double, sent: (Int) -> Void = { _ in }) throws -> Int? {
        guard settings.remote.hasPrefix("tcp://"), let colon = settings.remote.lastIndex(of: ":") else {
            throw UsageError(command: "gazecat pub", "--remote must be tcp://HOST:PORT, got \"\(settings.remote)\"")
        }
        let host = String(settings.remote[settings.remote.index(settings.remote.startIndex, offsetBy: 6)..<colon])
        let context = try ZMQContext()
        let remote = try ZMQSocket(context, type: .reply)
        let backbone = try ZMQSocket(context, type: .extendedPublisher)
        let inbound = try ZMQSocket(context, type: .extendedSubscriber)
        defer {
            remote.close()
            inbound.close()
            backbone.close()
        }
        try backbone.setSendHighWaterMark(0)
        try backbone.setLinger(milliseconds: Gazecat.lingerMilliseconds)
        try remote.bind(settings.remote)
        try backbone.bind("tcp://\(host):*")
        try inbound.bind("tcp://\(host):*")
        let subPort = try backbone.lastEndpoint.split(separator: ":").last.map(String.init) ?? ""
        let pubPort = try inbound.lastEndpoint.split(separator: ":").last.map(String.init) ?? ""
        let topic = Array(settings.topic.utf8)
        let frame = ZMQMessage()
        let poller = try ZMQPoller([(remote, .readable), (backbone, .readable), (inbound, .readable)])
        let start = clock()

        /// Answers Pupil Remote, notes subscriptions and forwards what plugins publish, for up to `milliseconds`.
        var subscribed = false
        func serve(milliseconds: Int) throws {
            try poller.poll(timeoutMilliseconds: milliseconds)
            if poller.events(at: 0).contains(.readable), try remote.receive(into: frame, flags: .dontWait) {
                let request = frame.withUnsafeBytes { String(decoding: $0.prefix(64), as: UTF8.self) }
                let answer = request == "SUB_PORT" ? subPort : request == "PUB_PORT" ? pubPort
                    : request == "t" ? "\(clock() - start)" : "Unknown command."
                _ = try remote.send(answer, flags: .dontWait)
            }
            if poller.events(at: 1).contains(.readable), try backbone.receive(into: frame, flags: .dontWait) {
                let bytes = frame.bytes
                if bytes.first == 1, topic.starts(with: bytes.dropFirst()) { subscribed = true }
                _ = try inbound.send(bytes, flags: .dontWait)  // subscriptions travel upstream, as in Pupil's proxy
            }
            if poller.events(at: 2).contains(.readable), let frames = try inbound.receiveMultipart(flags: .dontWait) {
                _ = try backbone.sendMultipart(frames, flags: .dontWait)
            }
        }
        let deadline = clock() + wait
        while !subscribed {
            guard clock() < deadline else { return nil }
            try serve(milliseconds: 20)
        }

        let surface = settings.settingsTopicIsSurface
        let mapper = settings.topic == "gaze." ? "gaze.3d." : settings.topic
        if file.isBinocular && !surface && !["gaze.2d.", "gaze.3d."].contains(mapper) {
            throw UsageError(command: "gazecat pub", "a binocular file is sent as monocular and binocular datums: --pupil-topic must be gaze.3d., gaze.2d. or gaze., not \(settings.topic)")
        }
        var writer = MessagePackWriter()
        let firstTime = file.times.first ?? 0
        let replayStart = clock()
        for index in 0..<file.observations.count {
            if !burst {
                let due = replayStart + (rate.map { Double(index) / $0 } ?? (file.times[index] - firstTime))
                while clock() < due { try serve(milliseconds: max(0, min(20, Int((due - clock()) * 1000)))) }
            } else {
                try serve(milliseconds: 0)
            }
            var values = file.observations[index] ?? [.nan, .nan]
            var confidence = file.confidences?[index] ?? (StreamModel().verdict(values).isMasked ? 0 : 1)
            var eyes = "01"  // a binocular file's datum: which eyes made it (Pupil's eye 0 is the right eye)
            if file.isBinocular {
                let row = file.observations[index] ?? [.nan, .nan, .nan, .nan]
                let left = !row[0].isNaN && !row[1].isNaN, right = !row[2].isNaN && !row[3].isNaN
                let leftConfidence = file.confidences?[index] ?? (left ? 1 : 0)
                let rightConfidence = file.rightConfidences?[index] ?? file.confidences?[index] ?? (right ? 1 : 0)
                eyes = left && right ? "01" : left ? "1" : right ? "0" : "01"
                values = left && right ? [(row[0] + row[2]) / 2, (row[1] + row[3]) / 2] : left ? [row[0], row[1]] : right ? [row[2], row[3]] : [.nan, .nan]
                confidence = left && right ? min(leftConfidence, rightConfidence) : left ? leftConfidence : right ? rightConfidence : 0
            }
            let datum = PupilGazeDatum(timestamp: file.times[index], normX: values[0] / settings.width,
                                       normY: 1 - values[1] / settings.height, confidence: confidence,
                                       onSurface: surface ? (0...1).contains(values[0] / settings.width) && (0...1).contains(1 - values[1] / settings.height) : nil)
            writer.reset()
            if surface {
                writer.mapHeader(4)
                writer.string("topic"); writer.string(settings.topic)
                writer.string("name"); writer.string(String(settings.topic.dropFirst("surfaces.".count)))
                writer.string("gaze_on_surfaces"); writer.arrayHeader(1)
                encode(datum, topic: "gaze.3d.\(eyes)._on_surface", into: &writer)
                writer.string("timestamp"); writer.double(datum.timestamp)
            } else if file.isBinocular {
                encode(datum, topic: mapper + eyes + ".", into: &writer)
            } else {
                encode(datum, topic: settings.topic, into: &writer)
            }
            _ = try backbone.sendMultipart([file.isBinocular && !surface ? Array((mapper + eyes + ".").utf8) : topic, writer.bytes])
            sent(index + 1)
        }
        // A moment for Pupil Remote's clients still asking, then the linger drains the rest.
        let end = clock() + 0.2
        while clock() < end { try serve(milliseconds: 20) }
        return file.observations.count
    }

    /// One datum map as Pupil writes it (`base_data` as surface datums carry it: topic and time).
    static func encode(_ datum: PupilGazeDatum, topic: String, into writer: inout MessagePackWriter) {
        writer.mapHeader(datum.onSurface == nil ? 5 : 6)
        writer.string("topic"); writer.string(topic)
        writer.string("norm_pos"); writer.arrayHeader(2); writer.double(datum.normX); writer.double(datum.normY)
        writer.string("confidence"); writer.double(datum.confidence)
        if let onSurface = datum.onSurface { writer.string("on_surf"); writer.bool(onSurface) }
        writer.string("base_data"); writer.arrayHeader(2); writer.string("gaze.3d.01."); writer.double(datum.timestamp)
        writer.string("timestamp"); writer.double(datum.timestamp)
    }
}

extension PupilReplay.Settings {
    /// Whether the topic is a surface's (`surfaces.<name>`), whose events carry lists of datums.
    var settingsTopicIsSurface: Bool { topic.hasPrefix("surfaces.") }
}
