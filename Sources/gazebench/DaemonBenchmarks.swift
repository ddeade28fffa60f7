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
    static func load(input: String, output: String, streams: Int, rate: Double?, seconds: Double, total: Int, pid: Int32?) throws -> Report {
        let context = try ZMQContext()
        let subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(0)
        try subscriber.subscribe("gaze.raw.")
        try subscriber.subscribe("gaze.clean.")
        try subscriber.connect(output)
        let publisher = try ZMQSocket(context, type: .extendedPublisher)
        try publisher.setSendHighWaterMark(0)
        try publisher.connect(input)
        try publisher.setReceiveTimeout(milliseconds: 10_000)
        _ = try publisher.receiveMultipart()   // the forwarder has subscribed
        // Warm up until our subscription is through, then drain.
        let topics = (0..<streams).map { GazeTopic.raw("bench\($0)") }
        var encoder = RawGazeEncoder()
        try subscriber.setReceiveTimeout(milliseconds: 20)
        var warm = false
        for i in 0..<2000 where !warm {
            encoder.encode(RawGazeSample(t: Double(i) * 0.001, x: 512, y: 384))
            try publisher.send(GazeTopic.raw("warmup"), flags: .sendMore)
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

    /// VmRSS of a process in KiB (0 if unreadable).
    static func residentKiB(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "0") ?? 0
    }
}
