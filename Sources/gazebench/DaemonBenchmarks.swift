#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import Synchronization
import ZeroMQ

/// End-to-end load on a forwarder of gaze messages (gazefilterd, or a bare zmq_proxy):
/// a publisher of raw samples and a subscriber of whatever comes out, in one process.
enum DaemonBenchmarks {
    /// The bare forwarder: XSUB bound at `input`, XPUB bound at `output`, `zmq_proxy` between.
    static func forwarder(input: String, output: String) throws {
        let context = try ZMQContext()
        let front = try ZMQSocket(context, type: .extendedSubscriber)
        let back = try ZMQSocket(context, type: .extendedPublisher)
        try front.setReceiveHighWaterMark(100_000)
        try back.setSendHighWaterMark(100_000)
        try front.bind(input)
        try back.bind(output)
        print("forwarder ready")
        fflush(nil)
        try ZMQ.proxy(frontend: front, backend: back)
    }

    /// Results of one load run, as `key value` lines with a prefix.
    struct Report {
        var sent = 0, received = 0
        var seconds = 0.0
        var latencies: [Double] = []
        var rss: [Int] = []

        func print(prefix: String) {
            Swift.print("\(prefix)_sent \(sent)")
            Swift.print("\(prefix)_received \(received)")
            Swift.print("\(prefix)_lost \(sent - received)")
            if seconds > 0 { Swift.print("\(prefix)_samples_per_s \(Double(received) / seconds)") }
            if !latencies.isEmpty {
                let sorted = latencies.sorted()
                for (name, q) in [("p50", 0.5), ("p99", 0.99), ("p999", 0.999)] {
                    Swift.print("\(prefix)_latency_\(name)_us \(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] * 1e6)")
                }
            }
            if let first = rss.first, let last = rss.last, let peak = rss.max() {
                Swift.print("\(prefix)_rss_first_kib \(first)")
                Swift.print("\(prefix)_rss_last_kib \(last)")
                Swift.print("\(prefix)_rss_max_kib \(peak)")
            }
        }
    }

    /// Publishes `total` samples over `streams` streams (as fast as possible when `rate` is nil,
    /// else `rate` per stream per second for `seconds`), and receives what comes out.
    /// Each sample's `t` is its send time on the monotonic clock, so latency = receipt - t.
    /// With `pupilRemote`, the load plays Pupil Capture instead (`PupilPlayer`): the daemon's
    /// streams `bench<i>` take msgpack gaze datums from topic `gaze.bench<i>.` of its backbone.
    static func load(input: String, output: String, streams: Int, rate: Double?, seconds: Double, total: Int, pid: Int32?,
                     pupilRemote: String? = nil) throws -> Report {
        let context = try ZMQContext()
        let subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(0)
        try subscriber.subscribe("gaze.raw.")
        try subscriber.subscribe("gaze.clean.")
        try subscriber.connect(output)
        let pupil = try pupilRemote.map { try PupilPlayer(context: context, remote: $0, streams: streams) }
        defer { pupil?.stop() }
        let publisher = try pupil?.backbone ?? ZMQSocket(context, type: .extendedPublisher)
        if pupil == nil {
            try publisher.setSendHighWaterMark(0)
            try publisher.connect(input)
            try publisher.setReceiveTimeout(milliseconds: 10_000)
            _ = try publisher.receiveMultipart()   // the forwarder has subscribed
        }
        // Warm up until our subscription is through, then drain.
        let topics = pupil?.topics ?? (0..<streams).map { GazeTopic.raw("bench\($0)") }
        var encoder = PayloadEncoder(pupil: pupil != nil)
        try subscriber.setReceiveTimeout(milliseconds: 20)
        var warm = false
        for i in 0..<2000 where !warm {
            encoder.encode(RawGazeSample(t: Double(i) * 0.001, x: 512, y: 384))
            try publisher.send(pupil == nil ? GazeTopic.raw("warmup") : topics[0], flags: .sendMore)
            try publisher.send(encoder.bytes)
            warm = try subscriber.receiveMultipart() != nil
        }
        try subscriber.setReceiveTimeout(milliseconds: 300)
        while try subscriber.receiveMultipart() != nil {}

        let expected = rate.map { Int($0 * seconds) * streams } ?? total
        let received = Atomic<Int>(0)
        let lastReceipt = Atomic<UInt64>(0)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var latencies = [Double]()
        latencies.reserveCapacity(rate == nil ? 0 : expected)
        let recordLatency = rate != nil
        try subscriber.setReceiveTimeout(milliseconds: 5000)
        nonisolated(unsafe) let sub = subscriber
        let receiverThread = Thread {
            let topic = ZMQMessage(), payload = ZMQMessage()
            var count = 0
            while count < expected {
                guard (try? sub.receive(into: topic)) == true, (try? sub.receive(into: payload)) == true else { break }
                let now = nowNanoseconds()
                if recordLatency, let sample = payload.withUnsafeBytes({ try? RawGazeDecoder.decode($0) }) {
                    latencies.append(Double(now) * 1e-9 - sample.t)
                }
                count += 1
                received.store(count, ordering: .relaxed)
                lastReceipt.store(now, ordering: .relaxed)
            }
            done.signal()
        }
        receiverThread.start()

        var report = Report()
        var rssSamples: [Int] = []
        let start = nowNanoseconds()
        var nextRSS = start
        var sent = 0
        if let rate {
            let period = UInt64(1e9 / rate)
            var due = start
            let end = start + UInt64(seconds * 1e9)
            while due < end {
                var wake = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
                clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil)
                for stream in 0..<streams {
                    encoder.encode(RawGazeSample(t: Double(nowNanoseconds()) * 1e-9, x: 512 + Double(sent % 7), y: 384))
                    try publisher.send(topics[stream], flags: .sendMore)
                    try publisher.send(encoder.bytes)
                    sent += 1
                }
                due += period
                if let pid, due >= nextRSS {
                    rssSamples.append(residentKiB(pid))
                    nextRSS = due + 5_000_000_000
                }
            }
        } else {
            for index in 0..<total {
                encoder.encode(RawGazeSample(t: Double(index) * 1e-3, x: 512 + Double(index % 7), y: 384))
                try publisher.send(topics[index % streams], flags: .sendMore)
                try publisher.send(encoder.bytes)
                sent += 1
            }
        }
        _ = done.wait(timeout: .now() + 30)
        if let pid { rssSamples.append(residentKiB(pid)) }
        report.sent = sent
        report.received = received.load(ordering: .relaxed)
        report.seconds = Double(lastReceipt.load(ordering: .relaxed) &- start) * 1e-9
        report.latencies = latencies
        report.rss = rssSamples
        return report
    }

    /// The raw payloads a load sends: the daemon's JSON, or a Pupil gaze datum in msgpack
    /// shaped as Pupil Capture sends it (base_data of two pupil datums, 3D fields).
    struct PayloadEncoder {
        let pupil: Bool
        var json = RawGazeEncoder()
        var msgpack = MessagePackWriter()
        var bytes: [UInt8] { pupil ? msgpack.bytes : json.bytes }

        init(pupil: Bool) { self.pupil = pupil }

        mutating func encode(_ sample: RawGazeSample) {
            guard pupil else { json.encode(sample); return }
            msgpack.reset()
            msgpack.mapHeader(6)
            msgpack.string("topic"); msgpack.string("gaze.3d.01.")
            msgpack.string("norm_pos"); msgpack.arrayHeader(2); msgpack.double(abs(sample.x) / 1920); msgpack.double(1 - sample.y / 1080)
            msgpack.string("confidence"); msgpack.double(sample.x < 0 ? 0.1 : 0.97)  // a lost sample: low confidence
            msgpack.string("timestamp"); msgpack.double(sample.t)
            msgpack.string("gaze_point_3d"); msgpack.arrayHeader(3); for v in [12.0, -40.5, 480] { msgpack.double(v) }
            msgpack.string("base_data"); msgpack.arrayHeader(2)
            for eye in 0..<2 {
                msgpack.mapHeader(7)
                msgpack.string("topic"); msgpack.string("pupil.\(eye).3d")
                msgpack.string("id"); msgpack.integer(eye)
                msgpack.string("timestamp"); msgpack.double(sample.t - 0.002)
                msgpack.string("confidence"); msgpack.double(0.98)
                msgpack.string("norm_pos"); msgpack.arrayHeader(2); msgpack.double(0.45); msgpack.double(0.55)
                msgpack.string("diameter"); msgpack.double(31.5)
                msgpack.string("ellipse"); msgpack.mapHeader(3)
                msgpack.string("center"); msgpack.arrayHeader(2); msgpack.double(96.2); msgpack.double(101.7)
                msgpack.string("axes"); msgpack.arrayHeader(2); msgpack.double(30.1); msgpack.double(33.2)
                msgpack.string("angle"); msgpack.double(81.3)
            }
        }
    }

    /// Pupil Capture as far as the daemon sees it: Pupil Remote answering `SUB_PORT` on a
    /// thread, and the backbone's XPUB socket whose subscribers are the daemon's Pupil streams.
    final class PupilPlayer: @unchecked Sendable {
        let backbone: ZMQSocket
        let topics: [[UInt8]]
        private let remote: ZMQSocket
        private let stopped = Atomic<Bool>(false)
        private let finished = DispatchSemaphore(value: 0)

        init(context: ZMQContext, remote endpoint: String, streams: Int) throws {
            backbone = try ZMQSocket(context, type: .extendedPublisher)
            try backbone.setSendHighWaterMark(0)
            try backbone.bind("tcp://127.0.0.1:*")
            let port = try backbone.lastEndpoint.split(separator: ":").last.map(String.init) ?? "0"
            remote = try ZMQSocket(context, type: .reply)
            try remote.bind(endpoint)
            try remote.setReceiveTimeout(milliseconds: 100)
            topics = (0..<streams).map { Array("gaze.bench\($0).".utf8) }
            Thread { [self] in
                while !stopped.load(ordering: .relaxed) {
                    guard let request = try? remote.receiveString() else { continue }
                    _ = try? remote.send(request == "SUB_PORT" ? port : request == "t" ? "\(Double(nowNanoseconds()) * 1e-9)" : "Unknown command.")
                }
                finished.signal()
            }.start()
            // Every stream's SUB socket has subscribed.
            try backbone.setReceiveTimeout(milliseconds: 30_000)
            var subscribed = Set<[UInt8]>()
            while subscribed.count < streams, let frames = try backbone.receiveMultipart() {
                if frames[0].first == 1 { subscribed.insert(Array(frames[0].dropFirst())) }
            }
        }

        func stop() {
            stopped.store(true, ordering: .relaxed)
            finished.wait()
            remote.close()
        }
    }

    /// VmRSS of a process in KiB (0 if unreadable).
    static func residentKiB(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
}
