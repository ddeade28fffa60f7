import Foundation
import GazeKit
import LinearDynamics

/// The periodic refit as explicit stages, one stream at a time, each under its own lock:
/// collect (parameters in force, recordings read by the stream's model) → fit (EM) → gate
/// (held-out data, as the daemon filters) → install (atomic) → and once per job, notify (the
/// daemon reloads) → report (JSON and SVG). Each stage has a typed outcome; the per-stream
/// `StreamRefit` collects what each one found.
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
    /// The file-name base of this run's report and figures, claimed by `run` (see `ReportStage.claimBase`).
    var reportBase: String?

    /// A job over `configuration`; `dryRun` fits and reports only; `log` receives progress lines.
    public init(configuration: RefitConfiguration, dryRun: Bool, stopBefore: InstallStep? = nil, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.dryRun = dryRun
        self.stopBefore = stopBefore
        self.log = log
    }

    var collect: CollectStage { CollectStage(configuration: configuration, log: log) }
    var fit: FitStage { FitStage(configuration: configuration, log: log) }
    var gate: GateStage { GateStage(configuration: configuration) }
    var install: InstallStage { InstallStage(configuration: configuration, stopBefore: stopBefore, log: log) }
    var notify: NotifyStage { NotifyStage(configuration: configuration) }
    var report: ReportStage { ReportStage(configuration: configuration, dryRun: dryRun, log: log, base: reportBase) }

    /// The streams with recordings (their directory names), sorted.
    public func recordedStreams() throws(GazeFileError) -> [String] {
        let root = configuration.recordDirectory
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: root) } catch {
            throw GazeFileError(path: root, "cannot list the recordings: \(RecordingReader.listingFailure(root, error))")
        }
        var isDirectory: ObjCBool = false
        return names.filter {
            GazeTopic.isValid(name: $0) && FileManager.default.fileExists(atPath: StreamPaths.recordings($0, in: root), isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
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

    /// The stages for one stream, under its lock, filling in `result` as they go.
    func refit(_ result: inout StreamRefit, stamp: String) {
        let stream = result.stream, directory = configuration.parametersDirectory
        do { try FileSystem.createDirectory(directory) } catch {
            result.reason = "\(error)"
            return
        }
        let lockPath = StreamPaths.lock(stream, in: directory)
        let lock: FileLock
        do {
            guard let taken = try FileLock(path: lockPath) else {
                result.decision = .locked
                result.reason = "another refit of \(stream) is running (\(lockPath) is held)"
                return
            }
            lock = taken
        } catch {
            result.reason = "\(error)"
            return
        }
        defer { lock.unlock() }
        install.removeLeftovers(of: stream)

        guard case .collected(let current, let training, let heldOut) = collect.run(&result) else { return }
        guard case .fitted(let fitted) = fit.run(current: current, training: training, &result) else { return }
        let decision = gate.run(current: current, fitted: fitted.parameters, heldOut: heldOut, &result)
        result.figurePath = report.writeFigure(result, current: current, fitted: fitted.parameters,
                                               stretchFrom: heldOut.isEmpty ? training : heldOut, stamp: stamp)
        guard decision == .promote, !dryRun else { return }
        _ = install.run(fitted.parameters, stamp: stamp, &result)
    }

    /// Refits `streams` (every recorded stream when nil), tells the daemon once if anything
    /// was installed, writes the JSON report (and returns it). Returns the report and the exit
    /// status: 0 when every stream was judged (promoted, refused or skipped) and the daemon was
    /// told of any install, 1 otherwise (a failed or locked stream, or a reload that failed).
    public func run(streams requested: [String]?) -> (report: String, results: [StreamRefit], status: Int32) {
        let stamp = UTCCalendar.timestamp()
        var job = self
        job.reportBase = report.claimBase(ReportStage.fileStamp(stamp))
        return job.run(streams: requested, stamp: stamp)
    }

    private func run(streams requested: [String]?, stamp: String) -> (report: String, results: [StreamRefit], status: Int32) {
        var results: [StreamRefit] = []
        var listingError: String?
        var streams: [String] = []
        for stream in requested ?? [] where !streams.contains(stream) { streams.append(stream) }  // each stream once
        if requested == nil {
            do { streams = try recordedStreams() } catch { listingError = "\(error)" }
        }
        report.removeLeftovers()
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
        var daemon: NotifyStage.Outcome?
        if results.contains(where: \.installed) {
            let told = notify.run()
            daemon = told
            log("daemon: \(told.message)")
            for index in results.indices where results[index].installed {
                results[index].reloaded = told.message
                if !told.told { results[index].reason += "; the parameters are installed but the daemon was not told (\(told.message))" }
            }
            if !told.told { log("the new parameters are installed but the daemon was not told to reload; it uses them from its next reload or restart") }
        }
        let text = report.report(stamp: stamp, results: results, listingError: listingError, daemon: daemon)
        report.write(text, stamp: stamp)
        let failed = listingError != nil || daemon?.told == false || results.contains { $0.decision == .failed || $0.decision == .locked }
        return (text, results, failed ? 1 : 0)
    }
}
