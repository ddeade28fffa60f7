#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeFilterDaemon
import GazeKit
import LinearDynamics

/// Counts heap allocations on the daemon's sample path (topic lookup, decode, record, filter,
/// encode) with glibc's own tracer: run under `LD_PRELOAD=libc_malloc_debug.so.0` and
/// `MALLOC_TRACE=FILE`, it switches `mtrace` on after a warm-up, runs the samples, switches
/// it off and counts the allocations in the trace. `--control` allocates once per sample on
/// purpose, to show that the count sees allocations.
enum AllocationCheck {
    typealias TraceSwitch = @convention(c) () -> Void
    /// Where `--control` keeps its per-sample arrays, so the optimiser cannot elide them.
    nonisolated(unsafe) static var kept: [Int] = []

    /// With `pupil`, the messages are Pupil gaze datums (msgpack with base_data) decoded,
    /// mapped to pixels and masked by confidence as the daemon's Pupil sources do.
    static func run(samples: Int, control: Bool, pupil: Bool = false) throws {
        guard (1...60_000).contains(samples) else {
            print("gazebench: --samples must be 1...60000 (the recorder's queue holds that many without growing)")
            exit(2)
        }
        // The tracer is the preloaded library's, whose symbols carry only the old version
        // (libc's own `mtrace` is an empty stub): look them up with dlvsym.
        typealias VersionedLookup = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>, UnsafePointer<CChar>) -> UnsafeMutableRawPointer?
        guard let library = dlopen("libc_malloc_debug.so.0", RTLD_NOW | RTLD_NOLOAD), let lookup = dlsym(nil, "dlvsym"),
              let on = unsafeBitCast(lookup, to: VersionedLookup.self)(library, "mtrace", "GLIBC_2.2.5"),
              let off = unsafeBitCast(lookup, to: VersionedLookup.self)(library, "muntrace", "GLIBC_2.2.5"),
              let trace = ProcessInfo.processInfo.environment["MALLOC_TRACE"] else {
            print("gazebench: run with LD_PRELOAD=libc_malloc_debug.so.0 and MALLOC_TRACE=FILE")
            exit(2)
        }
        let startTracing = unsafeBitCast(on, to: TraceSwitch.self), stopTracing = unsafeBitCast(off, to: TraceSwitch.self)

        // Three streams as the daemon makes them: gaze n = m = 2, constant velocity n = 4, and a
        // binocular stream (n = 2, m = 4: both eyes, one of them lost in some samples).
        let directory = NSTemporaryDirectory() + "gazebench-allocations-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The writer sleeps while traced (its formatting is not the sample path), so the queue
        // holds every traced sample: keep `samples` within its reserved 65,536 records.
        let recorder = try RecordingWriter(directory: directory, flushInterval: 3600) { _ in }
        let models = [try ParameterFile.read("config/params/default.json").parameters, CoreBenchmarks.velocityModel(),
                      try ParameterFile.read("config/params/binocular.json").parameters]
        var table = StreamTable(capacity: 8)
        var streams: [ServedStream] = []
        for (index, model) in models.enumerated() {
            let name = "tracker\(index)"
            _ = Array(name.utf8).withUnsafeBytes { table.insert($0) }
            // A Pupil stream as the daemon configures one: Pupil's loss rule, confidence recorded.
            let loss = pupil ? PupilSourceSettings.defaultLoss : .negative
            // With fixed-lag smoothing (gaze.smooth.<stream>): lag 5 for n = 2, 25 for n = 4.
            let stream = StreamModel(rateHz: 250, loss: loss, smoothLag: index == 0 ? 5 : 25, binocular: index == 2)
            streams.append(ServedStream(name: name, filter: GazeStreamFilter(parameters: model, model: stream), parameterSource: "benchmark",
                                        recorderID: recorder.register(stream: name, keepsConfidence: pupil, binocular: index == 2)))
        }
        // Raw messages made beforehand (topic, payload), every twentieth lost, some stale, a few gaps.
        let warmUp = 4096
        var encoder = DaemonBenchmarks.PayloadEncoder(pupil: pupil)
        let pupilSettings = PupilSourceSettings()
        var messages: [(topic: [UInt8], payload: [UInt8])] = []
        for index in 0..<(warmUp + samples) {
            let lost = index % 20 == 7, stream = index % 3
            let t = Double(index / 3 + index / 300) / 250 - (index % 97 == 5 ? 0.01 : 0)
            let x = lost ? -1 : 500 + Double(index % 50), y = 380 + Double(index % 30)
            if stream == 2 && !pupil {  // both eyes; now and then one of them lost, or both
                let leftLost = index % 23 == 2, rightLost = index % 29 == 5
                encoder.encode(RawGazeSample(t: t, lx: leftLost ? .nan : x - 3, ly: y, rx: rightLost ? -1 : x + 3, ry: y))
            } else {
                encoder.encode(RawGazeSample(t: t, x: x, y: y))
            }
            // Pupil: eye 0's and eye 1's monocular datums feed streams 0 and 1, binocular datums stream 2.
            messages.append((pupil ? Array("gaze.3d.\(stream == 2 ? "01" : "\(stream)").".utf8) : GazeTopic.raw("tracker\(stream)"), encoder.bytes))
        }
        var output = CleanGazeEncoder()
        var published = 0, smoothed = 0
        /// As the daemon does after each sample: every fixed-lag estimate that became ready.
        func drainSmoothed(_ stream: Int) {
            while streams[stream].encodeNextSmoothed(into: &output) {
                published &+= output.bytes.count
                smoothed += 1
            }
        }
        func pass(_ range: Range<Int>, tracing: Bool) {
            for index in range {
                let message = messages[index]
                if tracing && control { kept = Array(repeating: index, count: 3 + index & 1) }  // one allocation per sample, on purpose
                message.topic.withUnsafeBytes { topic in
                    if pupil {  // as the daemon's Pupil sources do: the stream is the source's
                        let stream = topic[9] == UInt8(ascii: "1") ? 2 : Int(topic[8] &- UInt8(ascii: "0"))  // "gaze.3d.<digit>." or "gaze.3d.01."
                        message.payload.withUnsafeBytes { payload in
                            try? pupilSettings.samples(topic: topic, payload: payload, binocular: stream == 2) { sample in
                                if streams[stream].handle(sample: sample, recorder: recorder, encoder: &output) == .estimate {
                                    published &+= output.bytes.count
                                    drainSmoothed(stream)
                                }
                            }
                        }
                        return
                    }
                    guard let name = try? GazeTopic.unvalidatedStreamName(inRawTopic: topic), let stream = table.find(name) else { return }  // as the daemon does
                    message.payload.withUnsafeBytes { payload in
                        if (try? streams[stream].handle(payload: payload, recorder: recorder, encoder: &output)) == .estimate {
                            published &+= output.bytes.count
                            drainSmoothed(stream)
                        }
                    }
                }
            }
        }
        pass(0..<warmUp, tracing: false)  // warm-up: first estimates, buffers at their working size
        let before = streams.map(\.filter.counters)
        smoothed = 0
        startTracing()
        pass(warmUp..<(warmUp + samples), tracing: true)
        stopTracing()
        recorder.close()

        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        let allocations = lines.filter { $0.contains(" + 0x") || $0.contains(" > 0x") }.count
        let counted = zip(streams, before).map { ($0.filter.counters.published - $1.published, $0.filter.counters.dropped - $1.dropped,
                                                   $0.filter.counters.bridgedSteps - $1.bridgedSteps) }
        print("samples \(samples)")
        print("estimates \(counted.reduce(0) { $0 + $1.0 })")
        print("smoothed_estimates \(smoothed)")
        print("binocular_estimates \(counted[2].0) (one eye: \(streams[2].filter.counters.oneEye - before[2].oneEye))")
        print("stale \(counted.reduce(0) { $0 + $1.1 })")
        print("bridged_steps \(counted.reduce(0) { $0 + $1.2 })")
        print("allocations \(allocations)")
        print("allocations_per_sample \(Double(allocations) / Double(samples))")
        print("published_bytes \(published)")  // keeps the work observable
    }
}
