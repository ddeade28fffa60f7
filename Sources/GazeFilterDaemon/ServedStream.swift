#if canImport(Glibc)
import Glibc
#endif
import GazeKit
import LinearDynamics

/// One stream as the daemon serves it: its live filter, its clean topic and its recording
/// slot, and the per-sample work on them, without sockets.
///
/// `handle` is the whole sample path between receiving a payload and sending the estimate:
/// decode, record, filter, encode. It allocates nothing (storage is made when the stream
/// appears), which `gazebench allocations` measures.
public struct ServedStream: Sendable {
    /// The stream's name, from its topic.
    public let name: String
    /// `gaze.clean.<name>` and `gaze.smooth.<name>`, made once.
    public let cleanTopic: [UInt8], smoothTopic: [UInt8]
    /// The stream's live filter and its counters.
    public var filter: GazeStreamFilter
    /// The parameter file in force, for statistics.
    public var parameterSource: String
    /// The stream's slot in the recorder (-1 without one).
    public let recorderID: RecordingWriter.StreamID
    /// When the stream's last sample arrived (monotonic nanoseconds), for idle eviction.
    public private(set) var lastArrival: UInt64 = monotonicNanoseconds()

    /// A stream that has seen no sample yet.
    public init(name: String, filter: GazeStreamFilter, parameterSource: String, recorderID: RecordingWriter.StreamID) {
        self.name = name
        self.cleanTopic = GazeTopic.clean(name)
        self.smoothTopic = GazeTopic.smooth(name)
        self.filter = filter
        self.parameterSource = parameterSource
        self.recorderID = recorderID
    }

    /// Decodes one raw payload, records it, runs it through the filter and, when there is an
    /// estimate to publish (`.estimate`), encodes it into `encoder.bytes`.
    /// - Throws: `GazeWireError` for a payload that is not a gaze sample (counted as malformed
    ///   here; nothing is recorded or filtered).
    public mutating func handle(payload: UnsafeRawBufferPointer, recorder: RecordingWriter?,
                                encoder: inout CleanGazeEncoder) throws(GazeWireError) -> GazeStreamFilter.Outcome {
        let sample: RawGazeSample
        do { sample = try RawGazeDecoder.decode(payload, binocular: filter.model.binocular) } catch {
            filter.counters.malformed += 1
            throw error
        }
        return handle(sample: sample, recorder: recorder, encoder: &encoder)
    }

    /// Records one decoded sample, runs it through the filter (its loss rule judges the
    /// coordinates and confidence) and, when there is an estimate to publish (`.estimate`),
    /// encodes it into `encoder.bytes`: the sample path after any source's decoder (JSON, Pupil).
    public mutating func handle(sample: RawGazeSample, recorder: RecordingWriter?,
                                encoder: inout CleanGazeEncoder) -> GazeStreamFilter.Outcome {
        recorder?.append(recorderID, sample)
        let start = monotonicNanoseconds()
        lastArrival = start
        let outcome = withUnsafeTemporaryAllocation(of: Double.self, capacity: 4) { observation in
            observation[0] = sample.x
            observation[1] = sample.y
            observation[2] = sample.rx
            observation[3] = sample.ry
            return filter.process(time: sample.t, observation: UnsafeBufferPointer(rebasing: observation[0..<(sample.isBinocular ? 4 : 2)]),
                                  confidence: sample.confidence, rightConfidence: sample.rightConfidence, arrival: Double(start) * 1e-9)
        }
        let elapsed = monotonicNanoseconds() &- start
        guard outcome == .estimate else { return outcome }
        filter.counters.stepNanosecondsTotal &+= elapsed
        if elapsed > filter.counters.stepNanosecondsMax { filter.counters.stepNanosecondsMax = elapsed }
        filter.withLastEstimate { encoder.encode($0) }
        return outcome
    }

    /// Encodes the next fixed-lag estimate ready for `gaze.smooth.<name>` (the shape of
    /// `gaze.clean`, with its own sample's t, seq and masked flag) into `encoder.bytes`.
    /// - Returns: whether there was one. Call until false after each sample (and after a flush).
    public mutating func encodeNextSmoothed(into encoder: inout CleanGazeEncoder) -> Bool {
        filter.withNextSmoothed { encoder.encode($0) }
    }
}
