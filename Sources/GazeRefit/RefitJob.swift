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

    /// The stream's name.
    public var stream: String
    /// What was decided.
    public var decision: Decision = .failed
    /// Why, in one sentence.
    public var reason = ""
    /// Whether new parameters were written to `<params_dir>/<stream>.json`.
    public var installed = false
    /// What telling the daemon did (installed streams only).
    public var reloaded: String?
    /// The parameter file the fit started from and was judged against.
    public var currentSource = ""
    /// The recordings read, oldest first.
    public var files: [String] = []
    /// Directory entries that are not recordings of today or earlier, not read.
    public var ignoredFiles: [String] = []
    /// Recordings that could not be read (`path: reason`).
    public var unreadableFiles: [String] = []
    /// Older recordings of the window left unread: newer ones already gave `max_samples`.
    public var filesNotRead: [String] = []
    /// Samples in usable sequences (masked ones included), and how many of them are observed.
    public var samples = 0, observedSamples = 0
    /// Sequences used, and the counts of what the reader skipped or masked (see `RecordingScan`).
    public var sequences = 0, corruptLines = 0, incompleteLines = 0, outOfOrder = 0, clockRestarts = 0, trimmed = 0
    public var lostSamples = 0, implausibleSamples = 0, bridgedSteps = 0
    /// The stream's model the data was read, fitted and judged by (from the daemon's config).
    public var model = StreamModel()
    /// The first few corrupt lines, `path:line: problem`.
    public var corruptExamples: [String] = []
    /// Samples fitted, and samples held back to judge the fit.
    public var trainingSamples = 0, heldOutSamples = 0
    /// EM iterations run.
    public var iterations = 0
    /// Whether EM stopped on its tolerance (rather than its iteration cap).
    public var converged = false
    /// The EM iteration that lowered the likelihood (precision lost), where the fit stopped.
    public var emDecreasedAt: Int?
    /// EM's log-likelihood before iteration 1 and after each.
    public var logLikelihoods: [Double] = []
    /// Held-out log-likelihood per observed sample, current and fitted parameters.
    public var heldOutCurrent: Double?
    public var heldOutFitted: Double?
    /// The fitted parameters, when EM ran.
    public var fitted: ModelParameters?
    /// Where the parameters were installed.
    public var parametersPath: String?
    /// Where the SVG figure was written.
    public var figurePath: String?
    /// Wall time spent on this stream.
    public var seconds = 0.0

    /// An empty result for `stream` (decision `failed` until something is decided).
    public init(stream: String) { self.stream = stream }
}

/// The periodic refit: for each stream, read its recordings, fit by multi-sequence EM from
/// its current parameters, judge the fit on held-out data, install it atomically when it is
/// better, and tell the daemon. One stream at a time, each under its own lock.
public struct RefitJob: Sendable {
    /// The settings.
    public var configuration: RefitConfiguration
    /// Fit, judge and report only: install nothing, signal no one.
    public var dryRun: Bool
    /// Progress lines (stderr in `gazefit`).
    public var log: @Sendable (String) -> Void
    /// Test hook: stop the process (SIGSTOP) at this install step, so a test can kill it exactly
    /// there. Set by `gazefit refit` from the environment variable `GAZEFIT_TEST_STOP_BEFORE`
    /// (`backup-rename` or `params-rename`); nil in normal use.
    public var stopBefore: InstallStep?
    /// The file-name base of this run's report and figures (`20261125T053000Z`, or with `.2`,
    /// `.3` … when another run of the same second took it), reserved by `run`.
    var reportBase: String?

    /// A job over `configuration`; `dryRun` fits and reports only; `log` receives progress lines.
    public init(configuration: RefitConfiguration, dryRun: Bool, stopBefore: InstallStep? = nil, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.dryRun = dryRun
        self.stopBefore = stopBefore
        self.log = log
    }

    /// The streams with recordings (their directory names), sorted.
    public func recordedStreams() throws(GazeFileError) -> [String] {
        let root = configuration.recordDirectory
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: root) } catch {
            throw GazeFileError(path: root, "cannot list the recordings: \(RecordingReader.listingFailure(root, error))")
        }
        var isDirectory: ObjCBool = false
        return names.filter { GazeTopic.isValid(name: $0) && FileManager.default.fileExists(atPath: root + "/" + $0, isDirectory: &isDirectory) && isDirectory.boolValue }.sorted()
    }

    /// Refits one stream; never throws: every problem ends up in the result, with the time it took.
    public func refit(stream: String, stamp: String) -> StreamRefit {
        let clock = ContinuousClock()
        let start = clock.now
        var result = StreamRefit(stream: stream)
        refit(&result, stamp: stamp)
        let elapsed = clock.now - start
        result.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return result
    }

    /// The body of `refit(stream:stamp:)`, filling in `result` as it goes.
    func refit(_ result: inout StreamRefit, stamp: String) {
        let stream = result.stream
        let directory = configuration.parametersDirectory
        do { try FileSystem.createDirectory(directory) } catch {
            result.reason = "\(error)"
            return
        }
        let lock: FileLock
        do {
            guard let taken = try FileLock(path: StreamPaths.lock(stream, in: directory)) else {
                result.decision = .locked
                result.reason = "another refit of \(stream) is running (\(StreamPaths.lock(stream, in: directory)) is held)"
                return
            }
            lock = taken
        } catch {
            result.reason = "\(error)"
            return
        }
        defer { lock.unlock() }
        removeLeftovers(of: stream)

        // The parameters in force: the stream's own file, else the default.
        let ownPath = StreamPaths.parameters(stream, in: directory)
        let model = configuration.model(for: stream)
        result.model = model
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
            result.reason = FileSystem.describe(error)
            return
        }
        guard current.observationDimension == 2 else {
            result.reason = "\(result.currentSource): parameters must observe (x, y), H has \(current.observationDimension) rows"
            return
        }

        // The data: recordings of the window, split at files, gaps and clock restarts, corrupt lines counted.
        let scan: RecordingScan
        do {
            scan = try RecordingReader.read(directory: StreamPaths.recordings(stream, in: configuration.recordDirectory), since: windowStart(),
                                            through: UTCCalendar.day(), maximumSamples: configuration.maximumSamples, model: model)
        } catch {
            result.reason = "\(error)"
            return
        }
        let segments = scan.segments.filter { $0.observations.count >= configuration.minimumSequenceLength }
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
            log("\(stream): \(scan.implausibleSamples) sample(s) outside the plausible range \(model.plausible?.description ?? "") masked as lost")
        }
        if scan.clockRestarts > 0 { log("\(stream): the tracker clock restarted \(scan.clockRestarts) time(s); each starts a new sequence") }

        // Enough observed data? Decided before EM, with the specific reason.
        let minimum = configuration.minimumSamples
        if scan.files.isEmpty, let first = scan.unreadableFiles.first {
            result.reason = "cannot read any recording of the window (\(scan.unreadableFiles.count) unreadable; first \(first))"
            return  // .failed: the data is there but cannot be read
        }
        guard result.samples > 0 else {
            result.decision = .skipped
            let read = scan.sampleCount
            result.reason = scan.files.isEmpty ? "no recordings in the window (files dated \(windowStart()) to today)"
                : read > 0 ? "no sequence of at least \(configuration.minimumSequenceLength) samples among the \(read) read"
                : "no usable sample in the window's \(scan.files.count) file(s)"
            return
        }
        guard result.observedSamples > 0 else {
            result.decision = .skipped
            result.reason = "all \(result.samples) samples in the window are lost (masked): nothing observed to fit"
            return
        }
        guard result.observedSamples >= minimum else {
            result.decision = .skipped
            result.reason = "too few samples: only \(result.observedSamples) observed (unmasked) samples in the window, at least \(minimum) needed"
            return
        }

        // Hold back the most recent part to judge the fit.
        let (training, heldOut) = split(segments, heldOut: Int(Double(result.samples) * configuration.holdoutFraction))
        result.trainingSamples = training.reduce(0) { $0 + $1.observations.count }
        result.heldOutSamples = heldOut.reduce(0) { $0 + $1.observations.count }
        guard heldOut.contains(where: { $0.observations.maskedCount < $0.observations.count }) else {
            result.decision = .skipped
            result.reason = "the held-out part (the most recent \(result.heldOutSamples) samples) has no observed sample to judge a fit on"
            return
        }
        guard training.contains(where: { $0.observations.maskedCount < $0.observations.count }) else {
            result.decision = .skipped
            result.reason = "the training part (\(result.trainingSamples) samples) has no observed sample: \(EMError.noData)"
            return
        }

        let fit: EMResult
        do {
            fit = try current.fitEM(to: training.map(\.observations), configuration: EMConfiguration(
                fitting: configuration.fitting, maximumIterations: configuration.iterations, tolerance: configuration.tolerance))
        } catch {
            result.decision = .refused
            result.reason = "the fit failed: \(error)"
            return
        }
        result.fitted = fit.parameters
        result.logLikelihoods = fit.logLikelihoods
        result.iterations = fit.iterations
        result.converged = fit.converged
        result.emDecreasedAt = fit.decreasedAt
        if let iteration = fit.decreasedAt {
            log("\(stream): EM iteration \(iteration) lowered the log-likelihood (numerical precision); kept the parameters before it")
        }

        // The gate: valid, and better on held-out data by the margin.
        let currentScore = Self.heldOutLogLikelihoodPerSample(current, heldOut.map(\.observations), model: model)
        let fittedScore = Self.heldOutLogLikelihoodPerSample(fit.parameters, heldOut.map(\.observations), model: model)
        result.heldOutCurrent = currentScore
        result.heldOutFitted = fittedScore
        do { try fit.parameters.validate() } catch {
            result.decision = .refused
            result.reason = "the fitted parameters are invalid: \(error)"
            return
        }
        guard let currentScore, let fittedScore else {
            result.decision = .refused
            result.reason = "the held-out data could not be scored under the \(currentScore == nil ? "current" : "fitted") parameters (a singular covariance)"
            return
        }
        let gain = fittedScore - currentScore
        let comparison = "held-out log-likelihood per sample \(rounded(fittedScore)) fitted vs \(rounded(currentScore)) current: gain \(rounded(gain))"
        let promote = gain >= configuration.minimumImprovement
        result.decision = promote ? .promoted : .refused
        result.reason = comparison + (promote ? " ≥ " : " is below the required ") + "\(configuration.minimumImprovement)"
        result.figurePath = writeFigure(result, parameters: promote ? fit.parameters : current, stretchFrom: heldOut.isEmpty ? training : heldOut, stamp: stamp)
        guard promote, !dryRun else { return }

        // Install: keep the old file as <stream>.prev.json, write the new one atomically.
        do {
            if FileManager.default.fileExists(atPath: ownPath) {
                try install(try readFile(ownPath, limit: ParameterFile.sizeLimit, what: "parameter file"),
                            at: StreamPaths.previousParameters(stream, in: directory), step: .backupRename)
            }
            var file = ParameterFile(parameters: fit.parameters)
            file.extra["metadata"] = metadata(result, stamp: stamp)
            try install(Array(file.encoded().utf8), at: ownPath, step: .parametersRename)
            result.installed = true
            result.parametersPath = ownPath
        } catch {
            result.decision = .failed
            result.reason = "cannot install: \(error)"
        }
    }

    /// A point of the install where the test hook `GAZEFIT_TEST_STOP_BEFORE` can stop the job.
    public enum InstallStep: String, Sendable {
        /// The backup's temporary file is written and synced, not yet renamed to `<stream>.prev.json`.
        case backupRename = "backup-rename"
        /// The backup is in place and the new parameters' temporary file is written and synced,
        /// not yet renamed to `<stream>.json`.
        case parametersRename = "params-rename"
    }

    /// Writes `bytes` to `path` atomically (`AtomicFile`), with the test hook between the
    /// write of the temporary file and its rename.
    func install(_ bytes: some Collection<UInt8>, at path: String, step: InstallStep) throws(GazeFileError) {
        let temporary = try AtomicFile.stage(bytes, for: path)
        if stopBefore == step {
            log("test hook GAZEFIT_TEST_STOP_BEFORE=\(step.rawValue): stopping with \(temporary) written")
            raise(SIGSTOP)
        }
        try AtomicFile.commit(temporary, to: path)
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
        let path = "\(directory)/\(reportBase ?? fileStamp(stamp))-\(result.stream).svg"
        do {
            try FileSystem.createDirectory(directory)
            try AtomicFile.write(text: figure.svg, to: path)
        } catch {
            log("\(result.stream): cannot write the figure: \(FileSystem.describe(error))")
            return nil
        }
        return path
    }

    /// The daemon's process name (`/proc/<pid>/comm`): a pid file naming any other process is stale.
    public static let daemonName = "gazefilterd"

    /// Tells the daemon to reload; returns what happened, for the report, and whether the
    /// daemon was told (false when it should have been and was not).
    public func reloadDaemon() -> (message: String, told: Bool) {
        switch configuration.reload {
        case .none:
            return ("not asked (reload = none)", true)
        case .pidFile:
            let path = configuration.pidFile
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                return ("not signalled: cannot read the pid file \(path): \(FileSystem.describe(error))", false)
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let pid = Int32(trimmed), pid > 1 else {
                return ("not signalled: \(path) does not hold a process id (\"\(trimmed.prefix(20))\")", false)
            }
            // A pid outlives its process: only signal it if it still is the daemon.
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else {
                return ("not signalled: no process \(pid) (from \(path)); the daemon is not running", false)
            }
            let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            guard name == Self.daemonName else {
                return ("not signalled: pid \(pid) from \(path) is \"\(name)\", not \(Self.daemonName) (a stale pid file)", false)
            }
            guard kill(pid, SIGHUP) == 0 else { return ("not signalled: kill(\(pid), SIGHUP): \(systemErrorText())", false) }
            return ("SIGHUP sent to pid \(pid)", true)
        case .systemd:
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
            process.arguments = ["reload", configuration.unit]
            do { try process.run() } catch { return ("systemctl reload \(configuration.unit) failed: \(FileSystem.describe(error))", false) }
            process.waitUntilExit()
            return process.terminationStatus == 0 ? ("systemctl reload \(configuration.unit)", true)
                : ("systemctl reload \(configuration.unit) exited \(process.terminationStatus)", false)
        }
    }

    /// The log-likelihood per observed sample of sequences filtered the way the daemon does:
    /// each starts by the stream's start rule (`StreamModel.startingFilter`). Nil without an
    /// observed sample or on a numerical failure.
    public static func heldOutLogLikelihoodPerSample(_ parameters: ModelParameters, _ sequences: [ObservationSequence],
                                                     model: StreamModel) -> Double? {
        var total = 0.0, observed = 0
        for sequence in sequences {
            var filter: OnlineKalmanFilter?
            var first = 0
            while first < sequence.count {
                filter = sequence.values.withUnsafeBufferPointer { values in
                    model.startingFilter(parameters, at: sequence.mask[first] ? nil
                                         : UnsafeBufferPointer(rebasing: values[(first * sequence.dimension)..<((first + 1) * sequence.dimension)]))
                }
                if filter != nil { break }
                first += 1
            }
            guard var filter else { continue }
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

    /// Removes temporary files a killed refit may have left of this stream's own files (the
    /// exact `.<stream>.json.tmp-<pid>-<random>` and `.<stream>.prev.json.tmp-<pid>-<random>`),
    /// under the stream's lock, so no live writer can own them.
    func removeLeftovers(of stream: String) {
        let directory = configuration.parametersDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where AtomicFile.isTemporaryName(name, for: "\(stream).json") || AtomicFile.isTemporaryName(name, for: "\(stream).prev.json") {
            if unlink(directory + "/" + name) == 0 { log("\(stream): removed \(directory)/\(name), left by an interrupted run") }
        }
    }

    /// Removes temporary files an interrupted job left in the report directory
    /// (`.<stamp>[-<stream>].{json,svg}.tmp-<pid>-<random>`) whose writer is gone: its pid is not
    /// running, or the file is more than a day old. A running job's files are left alone.
    func removeReportLeftovers() {
        guard let directory = configuration.reportDirectory else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let range = name.range(of: ".tmp-", options: .backwards), name.hasPrefix(".") else { continue }
            let target = String(name[name.index(after: name.startIndex)..<range.lowerBound])
            guard AtomicFile.isTemporaryName(name, for: target), Self.isReportName(target),
                  let pid = Int32(name[range.upperBound...].prefix { $0 != "-" }) else { continue }
            let path = directory + "/" + name
            let running = kill(pid, 0) == 0 || errno == EPERM
            var info = stat()
            let old = stat(path, &info) == 0 && Double(time(nil) - info.st_mtim.tv_sec) > 86_400
            guard !running || old else { continue }
            if unlink(path) == 0 { log("removed \(path), left by an interrupted run") }
        }
    }

    /// Whether `name` is a report this job writes: `<YYYYMMDDTHHMMSSZ>[.<n>].json` or `<YYYYMMDDTHHMMSSZ>[.<n>]-<stream>.svg`.
    static func isReportName(_ name: String) -> Bool {
        let stamp = name.prefix(16)
        let digits = stamp.enumerated().allSatisfy { index, character in
            index == 8 ? character == "T" : index == 15 ? character == "Z" : character.isASCII && character.isNumber
        }
        guard stamp.count == 16, digits else { return false }
        var rest = name.dropFirst(16)
        if rest.hasPrefix("."), let end = rest.dropFirst().firstIndex(where: { !$0.isASCII || !$0.isNumber }), end > rest.index(after: rest.startIndex) {
            rest = rest[end...]  // a run's number within its second: `.2`
        }
        if rest == ".json" { return true }
        guard rest.hasPrefix("-"), rest.hasSuffix(".svg") else { return false }
        return GazeTopic.isValid(name: String(rest.dropFirst().dropLast(4)))
    }

    func metadata(_ result: StreamRefit, stamp: String) -> JSONValue {
        var fields: [String: JSONValue] = [
            "fitted_at": .string(stamp),
            "stream": .string(result.stream),
            "started_from": .string(result.currentSource),
            "window_hours": .number(configuration.windowHours),
            "files": .array(result.files.map { .string($0) }),
            "samples": .integer(result.samples),
            "observed_samples": .integer(result.observedSamples),
            "clock_restarts": .integer(result.clockRestarts),
            "sequences": .integer(result.sequences),
            "training_samples": .integer(result.trainingSamples),
            "held_out_samples": .integer(result.heldOutSamples),
            "corrupt_lines": .integer(result.corruptLines),
            "fitted": .string(configuration.fitting.description),
            "iterations": .integer(result.iterations),
            "converged": .bool(result.converged),
            "loglikelihoods": JSONValue(result.logLikelihoods),
            "decision": .string(result.decision.rawValue),
            "reason": .string(result.reason),
        ]
        if let value = result.heldOutCurrent { fields["held_out_loglikelihood_per_sample_current"] = .number(value) }
        if let value = result.heldOutFitted { fields["held_out_loglikelihood_per_sample_fitted"] = .number(value) }
        return .object(fields)
    }

    func rounded(_ value: Double) -> String { String(format: "%.4f", value) }

    /// `2026-11-25T05:30:00Z` → `20261125T053000Z`, for file names.
    func fileStamp(_ stamp: String) -> String { String(stamp.filter { $0 != "-" && $0 != ":" }) }

    // MARK: A whole run

    /// Refits `streams` (every recorded stream when nil), reloads the daemon once if anything
    /// was installed, writes the JSON report (and prints it). Returns the report and the exit
    /// status: 0 when every stream was judged (promoted, refused or skipped) and the daemon was
    /// told of any install, 1 otherwise (a failed or locked stream, or a reload that failed).
    public func run(streams requested: [String]?) -> (report: String, results: [StreamRefit], status: Int32) {
        let stamp = UTCCalendar.timestamp()
        var job = self
        job.reportBase = reserveReportBase(fileStamp(stamp))
        return job.run(streams: requested, stamp: stamp)
    }

    /// Claims a report name no other run has: `<base>.json`, else `<base>.2.json`, `<base>.3.json` …,
    /// each tried with an exclusive create (so two jobs in the same second never share one).
    /// Nil without a report directory, or when none can be created (the write reports why).
    func reserveReportBase(_ base: String) -> String? {
        guard let directory = configuration.reportDirectory, (try? FileSystem.createDirectory(directory)) != nil else { return nil }
        for number in 1...1000 {
            let candidate = number == 1 ? base : "\(base).\(number)"
            let descriptor = open("\(directory)/\(candidate).json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 {
                close(descriptor)
                return candidate
            }
            guard errno == EEXIST else { return nil }
        }
        return nil
    }

    private func run(streams requested: [String]?, stamp: String) -> (report: String, results: [StreamRefit], status: Int32) {
        var results: [StreamRefit] = []
        var listingError: String?
        var streams: [String] = []
        for stream in requested ?? [] where !streams.contains(stream) { streams.append(stream) }  // each stream once
        if requested == nil {
            do { streams = try recordedStreams() } catch { listingError = "\(error)" }
        }
        removeReportLeftovers()
        for stream in streams {
            if let problem = GazeTopic.problem(name: stream) {
                var result = StreamRefit(stream: stream)
                result.reason = "not a valid stream name: \(problem)"
                log("\(stream): \(result.decision.rawValue): \(result.reason)")
                results.append(result)
                continue
            }
            log("\(stream): refitting")
            let result = refit(stream: stream, stamp: stamp)
            log("\(stream): \(result.decision.rawValue): \(result.reason)")
            results.append(result)
        }
        var daemonTold = true
        var daemonMessage: String?
        if results.contains(where: \.installed) {
            let (message, told) = reloadDaemon()
            daemonTold = told
            daemonMessage = message
            log("daemon: \(message)")
            for index in results.indices where results[index].installed {
                results[index].reloaded = message
                if !told { results[index].reason += "; the parameters are installed but the daemon was not told (\(message))" }
            }
            if !told { log("the new parameters are installed but the daemon was not told to reload; it uses them from its next reload or restart") }
        }
        var writer = JSONTextWriter()
        writer.beginObject()
        writer.key("started_at"); writer.string(stamp)
        writer.key("dry_run"); writer.bool(dryRun)
        writer.key("record_dir"); writer.string(configuration.recordDirectory)
        writer.key("params_dir"); writer.string(configuration.parametersDirectory)
        if let listingError { writer.key("error"); writer.string(listingError) }
        if let daemonMessage { writer.key("daemon"); writer.string(daemonMessage); writer.key("daemon_told"); writer.bool(daemonTold) }
        writer.key("streams")
        writer.beginArray()
        for result in results { write(result, to: &writer) }
        writer.endArray()
        writer.endObject()
        let report = writer.text + "\n"
        if let directory = configuration.reportDirectory {
            do {
                try FileSystem.createDirectory(directory)
                try AtomicFile.write(text: report, to: "\(directory)/\(reportBase ?? fileStamp(stamp)).json")
            } catch {
                log("cannot write the report: \(FileSystem.describe(error))")
            }
        }
        let failed = listingError != nil || !daemonTold || results.contains { $0.decision == .failed || $0.decision == .locked }
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
        writer.key("files"); writer.strings(result.files)
        writer.key("ignored_files"); writer.strings(result.ignoredFiles)
        writer.key("files_not_read"); writer.strings(result.filesNotRead)
        writer.key("unreadable_files"); writer.integer(result.unreadableFiles.count)
        writer.key("unreadable_examples"); writer.strings(result.unreadableFiles.prefix(RecordingReader.exampleLimit))
        writer.key("samples"); writer.integer(result.samples)
        writer.key("observed_samples"); writer.integer(result.observedSamples)
        writer.key("sequences"); writer.integer(result.sequences)
        writer.key("training_samples"); writer.integer(result.trainingSamples)
        writer.key("held_out_samples"); writer.integer(result.heldOutSamples)
        writer.key("corrupt_lines"); writer.integer(result.corruptLines)
        writer.key("corrupt_examples"); writer.strings(result.corruptExamples)
        writer.key("incomplete_lines"); writer.integer(result.incompleteLines)
        writer.key("out_of_order"); writer.integer(result.outOfOrder)
        writer.key("clock_restarts"); writer.integer(result.clockRestarts)
        writer.key("trimmed"); writer.integer(result.trimmed)
        writer.key("lost_samples"); writer.integer(result.lostSamples)
        writer.key("implausible_samples"); writer.integer(result.implausibleSamples)
        writer.key("bridged_steps"); writer.integer(result.bridgedSteps)
        writer.key("iterations"); writer.integer(result.iterations)
        writer.key("converged"); writer.bool(result.converged)
        if let iteration = result.emDecreasedAt { writer.key("em_decreased_at"); writer.integer(iteration) }
        writer.key("loglikelihoods"); writer.numbers(result.logLikelihoods)
        if let value = result.heldOutCurrent { writer.key("held_out_loglikelihood_per_sample_current"); writer.number(value) }
        if let value = result.heldOutFitted { writer.key("held_out_loglikelihood_per_sample_fitted"); writer.number(value) }
        if let figure = result.figurePath { writer.key("figure"); writer.string(figure) }
        writer.key("seconds"); writer.number((result.seconds * 1000).rounded() / 1000)
        writer.endObject()
    }

}
