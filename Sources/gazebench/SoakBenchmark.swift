#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import Synchronization
import ZeroMQ

/// `scripts/bench soak`: a long paced run against a live gazefilterd with recording on, a
/// reload (SIGHUP) every `reloadEvery` seconds and a refit (a command run beside, as the timer
/// would) every `refitEvery`; each minute prints the daemon's RSS and open descriptors, the
/// minute's latency percentiles and what was sent and received, so leaks, descriptor growth and
/// stalls show as trends rather than one number.
enum SoakBenchmark {
    struct Settings {
        var input: String, output: String, pid: Int32
        var streams = 8, rate = 1000.0, minutes = 30
        var reloadEvery = 60.0, refitEvery = 600.0
        /// The refit, as a shell command (run with /bin/sh -c).
        var refitCommand: String?
    }

    static func run(_ settings: Settings) throws {
        let context = try ZMQContext()
        let subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(0)
        try subscriber.subscribe("gaze.clean.soak.")
        try subscriber.subscribe("gaze.clean.warm")
        try subscriber.connect(settings.output)
        let publisher = try ZMQSocket(context, type: .extendedPublisher)
        try publisher.setSendHighWaterMark(0)
        try publisher.connect(settings.input)
        try publisher.setReceiveTimeout(milliseconds: 10_000)
        _ = try publisher.receiveMultipart()  // the daemon has subscribed
        var encoder = RawGazeEncoder()
        try subscriber.setReceiveTimeout(milliseconds: 20)
        var warm = false
        for i in 0..<5000 where !warm {  // until our subscription is through
            encoder.encode(RawGazeSample(t: Double(i) * 0.001, x: 512, y: 384))
            try publisher.send(GazeTopic.raw("warm"), flags: .sendMore)
            try publisher.send(encoder.bytes)
            warm = try subscriber.receiveMultipart() != nil
        }
        try subscriber.unsubscribe("gaze.clean.warm")
        try subscriber.setReceiveTimeout(milliseconds: 300)
        while try subscriber.receiveMultipart() != nil {}

        // The receiver: latencies of the current minute, and the count.
        let minute = Mutex<[Double]>([])
        let received = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let finished = DispatchSemaphore(value: 0)
        try subscriber.setReceiveTimeout(milliseconds: 200)
        nonisolated(unsafe) let sub = subscriber
        let receiver = Thread {
            let topic = ZMQMessage(), payload = ZMQMessage()
            while !stop.load(ordering: .relaxed) {
                guard (try? sub.receive(into: topic)) == true else { continue }
                guard (try? sub.receive(into: payload)) == true else { continue }
                let now = Double(nowNanoseconds()) * 1e-9
                if let sample = payload.withUnsafeBytes({ try? RawGazeDecoder.decode($0) }) {
                    minute.withLock { $0.append(now - sample.t) }
                }
                received.add(1, ordering: .relaxed)
            }
            finished.signal()
        }
        receiver.start()

        let topics = (0..<settings.streams).map { GazeTopic.raw("soak.\($0)") }
        var positions = [(Double, Double)](repeating: (960, 540), count: settings.streams)
        var generator = SplitMix(seed: 7)
        let period = UInt64(1e9 / settings.rate)
        let start = nowNanoseconds()
        let end = start + UInt64(Double(settings.minutes) * 60e9)
        var due = start, sent = 0, sentBefore = 0, receivedBefore = 0
        var nextMinute = start + 60_000_000_000, minuteNumber = 0
        var nextReload = start + UInt64(settings.reloadEvery * 1e9), reloads = 0
        var nextRefit = start + UInt64(settings.refitEvery * 1e9)
        var refits: [Process] = []
        var rss: [Int] = [], descriptors: [Int] = [], p99s: [Double] = []
        let widths = [6, 9, 5, 9, 9, 9, 9, 9, 8]
        func row(_ cells: [String]) -> String {
            zip(cells, widths).map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ")
        }
        print(row(["minute", "rss_kib", "fds", "p50_us", "p99_us", "max_us", "sent", "received", "refit"]))
        while due < end {
            var wake = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil)
            for stream in 0..<settings.streams {
                // A random walk on screen, with a lost sample now and then, so the refit has gaze to fit.
                var (x, y) = positions[stream]
                x = min(1900, max(20, x + generator.normal() * 2))
                y = min(1060, max(20, y + generator.normal() * 2))
                positions[stream] = (x, y)
                let lost = generator.next() % 100 == 0
                encoder.encode(RawGazeSample(t: Double(nowNanoseconds()) * 1e-9, x: lost ? -1 : x + generator.normal() * 7,
                                             y: lost ? -1 : y + generator.normal() * 7))
                try publisher.send(topics[stream], flags: .sendMore)
                try publisher.send(encoder.bytes)
                sent += 1
            }
            due += period
            let now = nowNanoseconds()
            if now >= nextReload {
                kill(settings.pid, SIGHUP)
                reloads += 1
                nextReload += UInt64(settings.reloadEvery * 1e9)
            }
            if now >= nextRefit, let command = settings.refitCommand {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", command]
                try process.run()
                refits.append(process)
                nextRefit += UInt64(settings.refitEvery * 1e9)
            }
            if now >= nextMinute {
                minuteNumber += 1
                let latencies = minute.withLock { latencies -> [Double] in defer { latencies.removeAll(keepingCapacity: true) }; return latencies }.sorted()
                let total = received.load(ordering: .relaxed)
                func quantile(_ q: Double) -> Double { latencies.isEmpty ? .nan : latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))] * 1e6 }
                rss.append(DaemonBenchmarks.residentKiB(settings.pid))
                descriptors.append(openDescriptors(settings.pid))
                p99s.append(quantile(0.99))
                let refitState = refits.last.map { $0.isRunning ? "running" : "exit \($0.terminationStatus)" } ?? "-"
                func micro(_ value: Double) -> String { value.isNaN ? "-" : String(Int(value.rounded())) }
                print(row([String(minuteNumber), String(rss.last!), String(descriptors.last!), micro(quantile(0.5)), micro(quantile(0.99)),
                           micro((latencies.last ?? .nan) * 1e6), String(sent - sentBefore), String(total - receivedBefore), refitState]))
                fflush(nil)
                sentBefore = sent
                receivedBefore = total
                nextMinute += 60_000_000_000
            }
        }
        // Let the last estimates arrive (at most 10 s), then stop the receiver.
        for _ in 0..<100 where received.load(ordering: .relaxed) < sent { usleep(100_000) }
        stop.store(true, ordering: .relaxed)
        finished.wait()
        for process in refits { process.waitUntilExit() }
        let total = received.load(ordering: .relaxed)
        print("soak_minutes \(settings.minutes)")
        print("soak_sent \(sent)")
        print("soak_received \(total)")
        print("soak_lost \(sent - total)")
        print("soak_reloads \(reloads)")
        print("soak_refits \(refits.count) exit statuses \(refits.map { String($0.terminationStatus) }.joined(separator: ","))")
        if let first = rss.first, let last = rss.last { print("soak_rss_kib first \(first) last \(last) max \(rss.max()!)") }
        if let first = descriptors.first, let last = descriptors.last { print("soak_fds first \(first) last \(last) max \(descriptors.max()!)") }
        print("soak_p99_us_per_minute \(p99s.map { $0.isNaN ? "-" : String(Int($0.rounded())) }.joined(separator: " "))")
    }

    /// How many descriptors a process has open (entries of /proc/<pid>/fd).
    static func openDescriptors(_ pid: Int32) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
    }
}

/// A small seeded generator with normal deviates (Box-Muller), for reproducible soak traffic.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func normal() -> Double {
        let u = (Double(next() >> 11) + 0.5) / Double(1 << 53), v = Double(next() >> 11) / Double(1 << 53)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }
}
