import Foundation
import GazeKit
import LinearDynamics

/// Stage 1, collect: the parameters in force for the stream and its recordings of the window,
/// read by the stream's model into sequences, split into training and held-out parts. Decides
/// before any fitting, with the specific reason, when there is not enough to fit.
struct CollectStage {
    let configuration: RefitConfiguration
    let log: @Sendable (String) -> Void

    /// What collecting found.
    enum Outcome {
        /// Enough data: fit `training` from `current`, judge on `heldOut`.
        case collected(current: ModelParameters, training: [RecordingScan.Segment], heldOut: [RecordingScan.Segment])
        /// Not enough data (the reason is in the result); nothing to fit.
        case skipped
        /// The data or the parameters cannot be read (the reason is in the result).
        case failed
    }

    /// Collects `result.stream`'s parameters and data, recording what it read in `result`.
    func run(_ result: inout StreamRefit) -> Outcome {
        let stream = result.stream
        let model = configuration.model(for: stream)
        result.model = model

        // The parameters in force, as the daemon chooses them: the stream's own file when it
        // fits the stream's eyes, else the default of its kind (binocular streams: m = 4).
        let ownPath = StreamPaths.parameters(stream, in: configuration.parametersDirectory)
        let defaultPath = model.binocular ? configuration.defaultBinocularParameters : configuration.defaultParameters
        var current: ModelParameters
        do {
            if FileManager.default.fileExists(atPath: ownPath) {
                current = try ParameterFile.read(ownPath).parameters
                result.currentSource = ownPath
                if let problem = model.parameterMismatch(current) {
                    log("\(stream): \(ownPath): \(problem); starting from \(defaultPath), as the daemon does")
                    current = try ParameterFile.read(defaultPath).parameters
                    result.currentSource = defaultPath
                }
            } else {
                current = try ParameterFile.read(defaultPath).parameters
                result.currentSource = defaultPath
            }
        } catch {
            result.reason = FileSystem.describe(error)
            return .failed
        }
        if let problem = model.parameterMismatch(current) {
            result.reason = "\(result.currentSource): \(problem)"
            return .failed
        }

        // The data: recordings of the window, read by the stream's model, corrupt lines counted.
        let scan: RecordingScan
        do {
            scan = try RecordingReader.read(directory: StreamPaths.recordings(stream, in: configuration.recordDirectory), since: windowStart,
                                            through: UTCCalendar.day(), maximumSamples: configuration.maximumSamples, model: model)
        } catch {
            result.reason = "\(error)"
            return .failed
        }
        let segments = scan.segments.filter { $0.observations.count >= configuration.minimumSequenceLength }
        note(scan, segments, in: &result)

        // Enough observed data? Decided before EM, with the specific reason.
        if scan.files.isEmpty, let first = scan.unreadableFiles.first {
            result.reason = "cannot read any recording of the window (\(scan.unreadableFiles.count) unreadable; first \(first))"
            return .failed  // the data is there but cannot be read
        }
        if let reason = shortage(scan, result) {
            result.decision = .skipped
            result.reason = reason
            return .skipped
        }

        // Hold back the most recent part to judge the fit.
        let (training, heldOut) = Self.split(segments, heldOut: Int(Double(result.samples) * configuration.holdoutFraction))
        result.trainingSamples = training.reduce(0) { $0 + $1.observations.count }
        result.trainingObserved = training.reduce(0) { $0 + $1.observations.count - $1.observations.maskedCount }
        result.heldOutSamples = heldOut.reduce(0) { $0 + $1.observations.count }
        guard heldOut.contains(where: { $0.observations.maskedCount < $0.observations.count }) else {
            result.decision = .skipped
            result.reason = "the held-out part (the most recent \(result.heldOutSamples) samples) has no observed sample to judge a fit on"
            return .skipped
        }
        guard result.trainingObserved > 0 else {
            result.decision = .skipped
            result.reason = "the training part (\(result.trainingSamples) samples) has no observed sample: \(EMError.noData)"
            return .skipped
        }
        return .collected(current: current, training: training, heldOut: heldOut)
    }

    /// The first UTC date whose recordings fall in the window.
    var windowStart: String { UTCCalendar.day(secondsAgo: configuration.windowHours * 3600) }

    /// Copies what the reader found into the result, and logs what a person should know.
    func note(_ scan: RecordingScan, _ segments: [RecordingScan.Segment], in result: inout StreamRefit) {
        let stream = result.stream
        result.files = scan.files
        result.ignoredFiles = scan.ignoredFiles
        result.unreadableFiles = scan.unreadableFiles
        result.filesNotRead = scan.filesNotRead
        result.corruptLines = scan.corruptLines
        result.corruptExamples = scan.corruptExamples
        result.incompleteLines = scan.incompleteLines
        result.outOfOrder = scan.outOfOrder
        result.clockRestarts = scan.clockRestarts
        result.trimmed = scan.trimmed
        result.lostSamples = scan.lostSamples
        result.implausibleSamples = scan.implausibleSamples
        result.oneEyeSamples = scan.oneEyeSamples
        result.bridgedSteps = scan.bridgedSteps
        result.samples = segments.reduce(0) { $0 + $1.observations.count }
        result.observedSamples = segments.reduce(0) { $0 + $1.observations.count - $1.observations.maskedCount }
        result.sequences = segments.count
        if !scan.ignoredFiles.isEmpty {
            log("\(stream): ignored \(scan.ignoredFiles.count) file(s) that are not recordings of today or before (YYYY-MM-DD.csv): \(scan.ignoredFiles.joined(separator: ", "))")
        }
        for unreadable in scan.unreadableFiles { log("\(stream): cannot read \(unreadable)") }
        if scan.corruptLines > 0 {
            log("\(stream): skipped \(scan.corruptLines) corrupt line(s), first at \(scan.corruptExamples.first ?? "?")")
        }
        if scan.implausibleSamples > 0 {
            log("\(stream): \(scan.implausibleSamples) sample(s) outside the plausible range \(result.model.plausible?.description ?? "") masked as lost")
        }
        if scan.clockRestarts > 0 { log("\(stream): the tracker clock restarted \(scan.clockRestarts) time(s); each starts a new sequence") }
    }

    /// Why there is too little to fit, or nil when there is enough.
    func shortage(_ scan: RecordingScan, _ result: StreamRefit) -> String? {
        guard result.samples > 0 else {
            let read = scan.sampleCount
            return scan.files.isEmpty ? "no recordings in the window (files dated \(windowStart) to today)"
                : read > 0 ? "no sequence of at least \(configuration.minimumSequenceLength) samples among the \(read) read"
                : "no usable sample in the window's \(scan.files.count) file(s)"
        }
        guard result.observedSamples > 0 else {
            return "all \(result.samples) samples in the window are lost (masked): nothing observed to fit"
        }
        guard result.observedSamples >= configuration.minimumSamples else {
            return "too few samples: only \(result.observedSamples) observed (unmasked) samples in the window, at least \(configuration.minimumSamples) needed"
        }
        return nil
    }

    /// Training and held-out segments: the last `heldOut` steps (splitting a segment if needed).
    static func split(_ segments: [RecordingScan.Segment], heldOut: Int) -> ([RecordingScan.Segment], [RecordingScan.Segment]) {
        var training = segments, held: [RecordingScan.Segment] = []
        var remaining = heldOut
        while remaining > 0, let last = training.last {
            let count = last.observations.count
            if count <= remaining {
                held.insert(training.removeLast(), at: 0)
                remaining -= count
            } else {
                let cut = count - remaining
                training[training.count - 1] = last.slice(0..<cut)
                held.insert(last.slice(cut..<count), at: 0)
                remaining = 0
            }
        }
        return (training.filter { $0.observations.count >= 2 }, held)
    }
}
