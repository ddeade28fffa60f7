#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import LinearDynamics

/// What a refit did for one stream.
public struct StreamRefit: Sendable {
    /// The outcome.
    public enum Decision: String, Sendable {
        /// New parameters passed the gate (installed unless a dry run).
        case promoted
        /// The gate kept the current parameters.
        case refused
        /// Not enough data, nothing fitted.
        case skipped
        /// Another refit of the stream holds its lock.
        case locked
        /// Something went wrong (unreadable files, a failed fit); nothing changed.
        case failed
    }

    public var stream: String
    public var decision: Decision = .failed
    /// Why, in one sentence.
    public var reason = ""
    public var installed = false
    public var reloaded: String?
    public var currentSource = ""
    public var files: [String] = []
    public var samples = 0, sequences = 0, corruptLines = 0, incompleteLines = 0, outOfOrder = 0, trimmed = 0
    public var corruptExamples: [String] = []
    public var trainingSamples = 0, heldOutSamples = 0
    public var iterations = 0
    public var converged = false
    public var logLikelihoods: [Double] = []
    /// Held-out log-likelihood per observed sample, current and fitted parameters.
    public var heldOutCurrent: Double?
    public var heldOutFitted: Double?
    public var fitted: ModelParameters?
    public var parametersPath: String?
    public var figurePath: String?
    public var seconds = 0.0

    public init(stream: String) { self.stream = stream }
}

/// The periodic refit: for each stream, read its recordings, fit by multi-sequence EM from
/// its current parameters, judge the fit on held-out data, install it atomically when it is
/// better, and tell the daemon. One stream at a time, each under its own lock.
public struct RefitJob: Sendable {
    public var configuration: RefitConfiguration
    public var dryRun: Bool
    /// Progress lines (stderr in `gazefit`).
    public var log: @Sendable (String) -> Void

    public init(configuration: RefitConfiguration, dryRun: Bool, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.dryRun = dryRun
        self.log = log
    }

    /// The streams with recordings (their directory names), sorted.
    public func recordedStreams() throws(GazeFileError) -> [String] {
        let root = configuration.recordDirectory
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: root) } catch {
            throw GazeFileError(path: root, "cannot list the recordings: \(error.localizedDescription)")
        }
        var isDirectory: ObjCBool = false
        return names.filter { GazeTopic.isValid(name: $0) && FileManager.default.fileExists(atPath: root + "/" + $0, isDirectory: &isDirectory) && isDirectory.boolValue }.sorted()
    }

    /// Refits one stream; never throws: every problem ends up in the result.
    public func refit(stream: String, stamp: String) -> StreamRefit {
        let start = Date()
        var result = StreamRefit(stream: stream)
        defer { result.seconds = Date().timeIntervalSince(start) }
        let directory = configuration.parametersDirectory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            result.reason = "cannot create \(directory): \(error.localizedDescription)"
            return result
        }
        let lock: FileLock
        do {
            guard let taken = try FileLock(path: "\(directory)/.\(stream).lock") else {
                result.decision = .locked
                result.reason = "another refit of \(stream) is running (\(directory)/.\(stream).lock is held)"
                return result
            }
            lock = taken
        } catch {
            result.reason = "\(error)"
            return result
        }
        defer { lock.unlock() }
        removeLeftovers(of: stream)

        // The parameters in force: the stream's own file, else the default.
        let ownPath = "\(directory)/\(stream).json"
        let current: ModelParameters
        do {
            if FileManager.default.fileExists(atPath: ownPath) {
                current = try ParameterFile.read(ownPath).parameters
                result.currentSource = ownPath
            } else {
                current = try ParameterFile.read(configuration.defaultParameters).parameters
                result.currentSource = configuration.defaultParameters
            }
        } catch {
            result.reason = "\(error)"
            return result
        }
        guard current.observationDimension == 2 else {
            result.reason = "\(result.currentSource): parameters must observe (x, y), H has \(current.observationDimension) rows"
            return result
        }

        // The data: recordings of the window, split at files and gaps, corrupt lines counted.
        let scan: RecordingScan
        do {
            scan = try RecordingReader.read(directory: "\(configuration.recordDirectory)/\(stream)", since: windowStart(),
                                            maximumSamples: configuration.maximumSamples, splitGap: configuration.splitGapSeconds)
        } catch {
            result.reason = "\(error)"
            return result
        }
        let segments = scan.segments.filter { $0.observations.count >= configuration.minimumSequenceLength }
        result.files = scan.files
        result.corruptLines = scan.corruptLines
        result.corruptExamples = scan.corruptExamples
        result.incompleteLines = scan.incompleteLines
        result.outOfOrder = scan.outOfOrder
        result.trimmed = scan.trimmed
        result.samples = segments.reduce(0) { $0 + $1.observations.count }
        result.sequences = segments.count
        if scan.corruptLines > 0 {
            log("\(stream): skipped \(scan.corruptLines) corrupt line(s), first at \(scan.corruptExamples.first ?? "?")")
        }
        guard result.samples >= configuration.minimumSamples else {
            result.decision = .skipped
            result.reason = "only \(result.samples) usable samples in the window (at least \(configuration.minimumSamples) needed)"
            return result
        }

        // Hold back the most recent part to judge the fit.
        let (training, heldOut) = split(segments, heldOut: Int(Double(result.samples) * configuration.holdoutFraction))
        result.trainingSamples = training.reduce(0) { $0 + $1.observations.count }
        result.heldOutSamples = heldOut.reduce(0) { $0 + $1.observations.count }

        let fit: EMResult
        do {
            fit = try current.fitEM(to: training.map(\.observations), configuration: EMConfiguration(
                fitting: configuration.fitting, maximumIterations: configuration.iterations, tolerance: configuration.tolerance))
        } catch {
            result.decision = .refused
            result.reason = "the fit failed: \(error)"
            return result
        }
        result.fitted = fit.parameters
        result.logLikelihoods = fit.logLikelihoods
        result.iterations = fit.iterations
        result.converged = fit.converged

        // The gate: valid, and better on held-out data by the margin.
        let currentScore = Self.heldOutLogLikelihoodPerSample(current, heldOut.map(\.observations))
        let fittedScore = Self.heldOutLogLikelihoodPerSample(fit.parameters, heldOut.map(\.observations))
        result.heldOutCurrent = currentScore
        result.heldOutFitted = fittedScore
        do { try fit.parameters.validate() } catch {
            result.decision = .refused
            result.reason = "the fitted parameters are invalid: \(error)"
            return result
        }
        guard let currentScore, let fittedScore else {
            result.decision = .refused
            result.reason = "the held-out data could not be scored (no observed sample, or a singular covariance)"
            return result
        }
        let gain = fittedScore - currentScore
        let comparison = "held-out log-likelihood per sample \(rounded(fittedScore)) fitted vs \(rounded(currentScore)) current: gain \(rounded(gain))"
        let promote = gain >= configuration.minimumImprovement
        result.decision = promote ? .promoted : .refused
        result.reason = comparison + (promote ? " ≥ " : " is below the required ") + "\(configuration.minimumImprovement)"
        result.figurePath = writeFigure(result, parameters: promote ? fit.parameters : current, stretchFrom: heldOut.isEmpty ? training : heldOut, stamp: stamp)
        guard promote, !dryRun else { return result }

        // Install: keep the old file as <stream>.prev.json, write the new one atomically.
        do {
            if FileManager.default.fileExists(atPath: ownPath) {
                try AtomicFile.write(try readFile(ownPath), to: "\(directory)/\(stream).prev.json")
            }
            var file = ParameterFile(parameters: fit.parameters)
            file.extra["metadata"] = metadata(result, stamp: stamp)
            try file.write(to: ownPath)
            result.installed = true
            result.parametersPath = ownPath
        } catch {
            result.decision = .failed
            result.reason = "cannot install: \(error)"
            return result
        }
        return result
    }

    /// Draws the report figure (log-likelihood curve, a stretch of gaze with filtered and
    /// smoothed traces under `parameters`) into the report directory; returns its path.
    func writeFigure(_ result: StreamRefit, parameters: ModelParameters, stretchFrom segments: [RecordingScan.Segment], stamp: String) -> String? {
        guard let directory = configuration.reportDirectory, let segment = segments.first(where: { $0.observations.maskedCount < $0.observations.count }) else { return nil }
        let count = min(segment.observations.count, 600)
        let piece = segment.slice(0..<count)
        let observations = piece.observations
        var stretch: RefitFigure.Stretch?
        if let first = (0..<count).first(where: { !observations.mask[$0] }) {
            var start = parameters
            var mean = [Double](repeating: 0, count: parameters.stateDimension)
            for i in 0..<min(mean.count, 2) { mean[i] = observations.values[first * 2 + i] }
            start.initialMean = mean
            let tail = observations.slice(first..<count)
            if let smoothed = try? start.smooth(tail) {
                let h = parameters.observation
                func project(_ trajectory: StateTrajectory) -> [(x: Double, y: Double)] {
                    (0..<trajectory.count).map { let p = h * trajectory.mean(at: $0); return (p[0], p[1]) }
                }
                stretch = RefitFigure.Stretch(
                    times: Array(piece.times[first...]),
                    raw: (first..<count).map { observations[$0].map { ($0[0], $0[1]) } },
                    filtered: project(smoothed.filter.filtered), smoothed: project(smoothed.smoothed))
            }
        }
        let figure = RefitFigure(
            title: "gazefit refit — stream \(result.stream): \(result.decision.rawValue)\(dryRun ? " (dry run)" : "")",
            subtitle: ["\(stamp) · \(result.samples) samples in \(result.sequences) sequences (\(result.heldOutSamples) held out) · \(result.iterations) EM iterations from \(result.currentSource)",
                       result.reason, "gaze below: the first \(count) samples of the held-out data, traced with the \(result.decision == .promoted ? "fitted" : "current") parameters"],
            logLikelihoods: result.logLikelihoods, stretch: stretch)
        let path = "\(directory)/\(fileStamp(stamp))-\(result.stream).svg"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try AtomicFile.write(text: figure.svg, to: path)
        } catch {
            log("\(result.stream): cannot write the figure: \(error)")
            return nil
        }
        return path
    }

    /// Tells the daemon to reload; returns what happened, for the report.
    public func reloadDaemon() -> String {
        switch configuration.reload {
        case .none:
            return "not asked (reload = none)"
        case .pidFile:
            guard let text = try? String(contentsOfFile: configuration.pidFile, encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else {
                return "not signalled: no readable pid in \(configuration.pidFile)"
            }
            guard kill(pid, SIGHUP) == 0 else { return "not signalled: kill(\(pid), SIGHUP): \(String(cString: strerror(errno)))" }
            return "SIGHUP sent to pid \(pid)"
        case .systemd:
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
            process.arguments = ["reload", configuration.unit]
            do { try process.run() } catch { return "systemctl reload \(configuration.unit) failed: \(error.localizedDescription)" }
            process.waitUntilExit()
            return process.terminationStatus == 0 ? "systemctl reload \(configuration.unit)" : "systemctl reload \(configuration.unit) exited \(process.terminationStatus)"
        }
    }

    /// The log-likelihood per observed sample of sequences filtered the way the daemon does:
    /// each starts at its first unmasked sample. Nil without an observed sample or on a
    /// numerical failure.
    public static func heldOutLogLikelihoodPerSample(_ parameters: ModelParameters, _ sequences: [ObservationSequence]) -> Double? {
        var total = 0.0, observed = 0
        for sequence in sequences {
            guard let first = (0..<sequence.count).first(where: { !sequence.mask[$0] }) else { continue }
            var start = [Double](repeating: 0, count: parameters.stateDimension)
            for i in 0..<min(start.count, 2) { start[i] = sequence.values[first * 2 + i] }
            var filter = OnlineKalmanFilter(parameters: parameters, initialMean: start)
            for t in first..<sequence.count {
                do { total += try filter.step(sequence[t]) } catch { return nil }
                if !sequence.mask[t] { observed += 1 }
            }
        }
        guard observed > 0, total.isFinite else { return nil }
        return total / Double(observed)
    }

    /// Training and held-out segments: the last `heldOut` samples (splitting a segment if needed).
    func split(_ segments: [RecordingScan.Segment], heldOut: Int) -> ([RecordingScan.Segment], [RecordingScan.Segment]) {
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

    /// The first UTC date whose recordings fall in the window.
    func windowStart() -> String { UTCCalendar.day(secondsAgo: configuration.windowHours * 3600) }

    /// Removes temporary files a killed refit may have left (only ours, under our lock).
    func removeLeftovers(of stream: String) {
        let directory = configuration.parametersDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(".\(stream).json.tmp-") || name.hasPrefix(".\(stream).prev.json.tmp-") {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    func metadata(_ result: StreamRefit, stamp: String) -> JSONValue {
        var fields: [String: JSONValue] = [
            "fitted_at": .string(stamp),
            "stream": .string(result.stream),
            "started_from": .string(result.currentSource),
            "window_hours": .number(configuration.windowHours),
            "files": .array(result.files.map { .string($0) }),
            "samples": .number(Double(result.samples)),
            "sequences": .number(Double(result.sequences)),
            "training_samples": .number(Double(result.trainingSamples)),
            "held_out_samples": .number(Double(result.heldOutSamples)),
            "corrupt_lines": .number(Double(result.corruptLines)),
            "fitted": .string(configuration.fitting.description),
            "iterations": .number(Double(result.iterations)),
            "converged": .bool(result.converged),
            "loglikelihoods": JSONValue(result.logLikelihoods),
            "decision": .string(result.decision.rawValue),
            "reason": .string(result.reason),
        ]
        if let value = result.heldOutCurrent { fields["held_out_loglikelihood_per_sample_before"] = .number(value) }
        if let value = result.heldOutFitted { fields["held_out_loglikelihood_per_sample_after"] = .number(value) }
        return .object(fields)
    }

    func rounded(_ value: Double) -> String { String(format: "%.4f", value) }

    /// `2026-11-25T05:30:00Z` → `20261125T053000Z`, for file names.
    func fileStamp(_ stamp: String) -> String { String(stamp.filter { $0 != "-" && $0 != ":" }) }

    // MARK: A whole run

    /// Refits `streams` (every recorded stream when nil), reloads the daemon once if anything
    /// was installed, writes the JSON report (and prints it). Returns the report and the exit
    /// status: 0 when every stream was judged (promoted, refused or skipped), 1 otherwise.
    public func run(streams requested: [String]?) -> (report: String, results: [StreamRefit], status: Int32) {
        let stamp = UTCCalendar.timestamp()
        var results: [StreamRefit] = []
        var listingError: String?
        var streams = requested ?? []
        if requested == nil {
            do { streams = try recordedStreams() } catch { listingError = "\(error)" }
        }
        for stream in streams {
            guard GazeTopic.isValid(name: stream) else {
                var result = StreamRefit(stream: stream)
                result.reason = "not a valid stream name"
                results.append(result)
                continue
            }
            log("\(stream): refitting")
            let result = refit(stream: stream, stamp: stamp)
            log("\(stream): \(result.decision.rawValue): \(result.reason)")
            results.append(result)
        }
        if results.contains(where: \.installed) {
            let reloaded = reloadDaemon()
            log("daemon: \(reloaded)")
            for index in results.indices where results[index].installed { results[index].reloaded = reloaded }
        }
        var writer = JSONTextWriter()
        writer.beginObject()
        writer.key("started_at"); writer.string(stamp)
        writer.key("dry_run"); writer.bool(dryRun)
        writer.key("record_dir"); writer.string(configuration.recordDirectory)
        writer.key("params_dir"); writer.string(configuration.parametersDirectory)
        if let listingError { writer.key("error"); writer.string(listingError) }
        writer.key("streams")
        writer.beginArray()
        for result in results { write(result, to: &writer) }
        writer.endArray()
        writer.endObject()
        let report = writer.text + "\n"
        if let directory = configuration.reportDirectory {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try AtomicFile.write(text: report, to: "\(directory)/\(fileStamp(stamp)).json")
            } catch {
                log("cannot write the report: \(error)")
            }
        }
        let failed = listingError != nil || results.contains { $0.decision == .failed || $0.decision == .locked }
        return (report, results, failed ? 1 : 0)
    }

    func write(_ result: StreamRefit, to writer: inout JSONTextWriter) {
        writer.beginObject()
        writer.key("stream"); writer.string(result.stream)
        writer.key("decision"); writer.string(result.decision.rawValue)
        writer.key("reason"); writer.string(result.reason)
        writer.key("installed"); writer.bool(result.installed)
        if let path = result.parametersPath { writer.key("parameters"); writer.string(path) }
        if let reloaded = result.reloaded { writer.key("daemon"); writer.string(reloaded) }
        writer.key("started_from"); writer.string(result.currentSource)
        writer.key("files"); writer.beginArray(); for file in result.files { writer.string(file) }; writer.endArray()
        writer.key("samples"); writer.integer(result.samples)
        writer.key("sequences"); writer.integer(result.sequences)
        writer.key("training_samples"); writer.integer(result.trainingSamples)
        writer.key("held_out_samples"); writer.integer(result.heldOutSamples)
        writer.key("corrupt_lines"); writer.integer(result.corruptLines)
        writer.key("corrupt_examples"); writer.beginArray(); for example in result.corruptExamples { writer.string(example) }; writer.endArray()
        writer.key("incomplete_lines"); writer.integer(result.incompleteLines)
        writer.key("out_of_order"); writer.integer(result.outOfOrder)
        writer.key("trimmed"); writer.integer(result.trimmed)
        writer.key("iterations"); writer.integer(result.iterations)
        writer.key("converged"); writer.bool(result.converged)
        writer.key("loglikelihoods"); writer.numbers(result.logLikelihoods)
        if let value = result.heldOutCurrent { writer.key("held_out_loglikelihood_per_sample_current"); writer.number(value) }
        if let value = result.heldOutFitted { writer.key("held_out_loglikelihood_per_sample_fitted"); writer.number(value) }
        if let figure = result.figurePath { writer.key("figure"); writer.string(figure) }
        writer.key("seconds"); writer.number((result.seconds * 1000).rounded() / 1000)
        writer.endObject()
    }

}
