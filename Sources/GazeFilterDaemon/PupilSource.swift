import Foundation
import GazeFilterConfiguration
import GazeKit
import ZeroMQ

extension PupilSourceSettings {
    /// Decodes one Pupil message (topic and msgpack payload) and calls `body` with each gaze
    /// datum as a sample in pixels with its confidence (the stream's loss rule judges it):
    /// the daemon's whole Pupil decode path, allocation-free.
    ///
    /// For a `binocular` stream each datum fills the eyes it was mapped from (`PupilEye`): a
    /// monocular datum of eye 0 the right eye's rx, ry (and its confidence), of eye 1
    /// the left eye's, the other eye lost (NaN); a binocular datum (`.01.`) both eyes with its
    /// one gaze point and confidence (docs/PROTOCOL.md, "Binocular streams", says why).
    /// - Throws: `GazeWireError` for a topic without gaze or a malformed payload (then `body`
    ///   is never called).
    @inline(__always)
    public func samples(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer, binocular: Bool = false,
                        _ body: (RawGazeSample) -> Void) throws(GazeWireError) {
        let kind = try PupilGazeDecoder.kind(ofTopic: topic)
        try PupilGazeDecoder.decode(kind, payload: payload, eye: PupilEye.of(topic: topic)) { datum in
            let (x, y) = datum.pixels(width: widthPixels, height: heightPixels)
            guard binocular else {
                body(RawGazeSample(t: datum.timestamp, x: x, y: y, confidence: datum.confidence))
                return
            }
            let left = datum.eye != .right, right = datum.eye != .left
            body(RawGazeSample(t: datum.timestamp, lx: left ? x : .nan, ly: left ? y : .nan, rx: right ? x : .nan, ry: right ? y : .nan,
                               leftConfidence: left ? datum.confidence : .nan, rightConfidence: right ? datum.confidence : .nan))
        }
    }
}

/// A live connection to one Pupil Capture/Service for one stream: asks Pupil Remote for
/// `SUB_PORT`, subscribes to the configured topic on the IPC backbone, and keeps doing so.
///
/// Nothing here ever blocks the daemon's loop: the REQ exchange is sent without waiting and
/// its reply collected by `maintain` on later turns of the loop. A reply that does not come
/// within `replyTimeout` abandons that REQ socket (REQ cannot send again before a reply) and
/// tries again after `retryInterval`. While connected, a stream silent for
/// `silenceBeforeRecheck` asks again: Pupil chooses a new backbone port each time it starts,
/// so a restarted Pupil is found again without restarting the daemon. The SUB socket itself
/// lives as long as the daemon (its place in the poll set never changes); a new port is a
/// disconnect and a connect on it.
final class PupilSource {
    /// Seconds to wait for Pupil Remote's reply.
    static let replyTimeout = 1.0
    /// Seconds between attempts while Pupil Remote does not answer.
    static let retryInterval = 1.0
    /// Seconds of silence on the backbone before asking Pupil Remote again.
    static let silenceBeforeRecheck = 2.0

    let stream: String
    let settings: PupilSourceSettings
    let host: String
    let subscriber: ZMQSocket
    private let context: ZMQContext
    private var request: ZMQSocket?
    private var askedAt = 0.0
    private var nextAsk = 0.0
    /// The backbone endpoint connected, if any.
    private(set) var connected: String?
    /// When the last message arrived (monotonic seconds).
    var lastMessage = -Double.infinity
    /// The stream's index in the daemon's table, once its first datum made it.
    var streamIndex: Int?
    /// Times the backbone endpoint was (re)connected, for statistics.
    private(set) var connections: UInt64 = 0
    private var reply = ZMQMessage()
    private var reportedUnreachable = false

    /// A source for `stream`; connects nothing yet (`maintain` does).
    /// - Throws: `ZMQError` when a socket cannot be made.
    init(context: ZMQContext, stream: String, settings: PupilSourceSettings, highWaterMark: Int32) throws {
        guard let host = settings.host else { throw GazeFilterService.EndpointError(description: "stream \(stream): pupil_remote must be tcp://HOST:PORT, got \(settings.remote)") }
        self.context = context
        self.stream = stream
        self.settings = settings
        self.host = host
        subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(highWaterMark)
        // A frame over the decoder's cap is refused by libzmq before it takes memory (the
        // connection is dropped and made again); Pupil's gaze and surface messages are far smaller.
        try subscriber.setMaximumMessageSize(bytes: Int64(PupilGazeDecoder.maximumPayloadBytes))
        try subscriber.subscribe(settings.topic)
    }

    /// One turn of the connection's life: sends a `SUB_PORT` request when due, collects its
    /// reply, and reconnects the SUB socket when the port changed. Never waits.
    /// - Parameter log: receives one line per change of state (connected, unreachable).
    func maintain(now: Double, log: (String) -> Void) {
        if let request {
            if (try? request.receive(into: reply, flags: .dontWait)) == true {
                let answer = reply.withUnsafeBytes { String(decoding: $0.prefix(16), as: UTF8.self) }
                closeRequest()
                nextAsk = now + Self.silenceBeforeRecheck
                guard let port = Int(answer.trimmingCharacters(in: .whitespacesAndNewlines)), (1...65535).contains(port) else {
                    log("stream \(stream): Pupil Remote at \(settings.remote) answered SUB_PORT with \(answer.debugDescription), not a port")
                    return
                }
                connect(to: "tcp://\(host):\(port)", log: log)
                reportedUnreachable = false
            } else if now - askedAt > Self.replyTimeout {
                closeRequest()
                nextAsk = now + Self.retryInterval
                if !reportedUnreachable {
                    log("stream \(stream): Pupil Remote at \(settings.remote) does not answer; asking again every \(Self.retryInterval) s")
                    reportedUnreachable = true
                }
            }
            return
        }
        let silent = now - lastMessage > Self.silenceBeforeRecheck
        guard now >= nextAsk, connected == nil || silent else { return }
        ask(now: now)
    }

    private func ask(now: Double) {
        askedAt = now
        do {
            let socket = try ZMQSocket(context, type: .request)
            try socket.connect(settings.remote)
            _ = try socket.send("SUB_PORT", flags: .dontWait)
            request = socket
        } catch {
            nextAsk = now + Self.retryInterval
        }
    }

    private func closeRequest() {
        request?.close()
        request = nil
    }

    private func connect(to endpoint: String, log: (String) -> Void) {
        guard endpoint != connected else { return }
        if let old = connected { try? subscriber.disconnect(old) }
        do {
            try subscriber.connect(endpoint)
            connected = endpoint
            connections += 1
            log("stream \(stream): subscribed to \(settings.topic.debugDescription) on Pupil's backbone \(endpoint) (Pupil Remote \(settings.remote))")
        } catch {
            connected = nil
            log("stream \(stream): cannot connect to Pupil's backbone \(endpoint): \(error)")
        }
    }

    /// Closes both sockets.
    func close() {
        closeRequest()
        subscriber.close()
    }
}
