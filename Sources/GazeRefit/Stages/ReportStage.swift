#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import LinearDynamics

/// Stage 6, report: the job's JSON report (printed, and written to `report_dir` with one SVG
/// figure per fitted stream), in the same vocabulary as the installed parameters' metadata.
struct ReportStage {
    let configuration: RefitConfiguration
    let dryRun: Bool
    let log: @Sendable (String) -> Void
    /// The run's file-name base (`claimBase`); nil: the stamp's.
    var base: String? = nil

    /// The file-name base of this run's files.
    func fileBase(_ stamp: String) -> String { base ?? Self.fileStamp(stamp) }

    /// Claims a report name no other run has: `<stamp>.json`, else `<stamp>.2.json`,
    /// `<stamp>.3.json` …, each tried with an exclusive create, so two runs in the same second
    /// (or at once) never write the same report; the figures follow the name. Nil without a
    /// report directory or when none can be created (writing the report then says why).
    func claimBase(_ stamp: String) -> String? {
        guard let directory = configuration.reportDirectory, (try? FileSystem.createDirectory(directory)) != nil else { return nil }
        for number in 1...1000 {
            let candidate = number == 1 ? stamp : "\(stamp).\(number)"
            let descriptor = open("\(directory)/\(candidate).json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 {
                close(descriptor)
                return candidate
            }
            guard errno == EEXIST else { return nil }
        }
        return nil
    }

    /// The report's text for a whole run.
    func report(stamp: String, results: [StreamRefit], listingError: String?, daemon: NotifyStage.Outcome?) -> String {
        var writer = JSONTextWriter()
        writer.beginObject()
        writer.key("started_at"); writer.string(stamp)
        writer.key("dry_run"); writer.bool(dryRun)
        writer.key("record_dir"); writer.string(configuration.recordDirectory)
        writer.key("params_dir"); writer.string(configuration.parametersDirectory)
        if let daemonConfig = configuration.daemonConfig { writer.key("daemon_config"); writer.string(daemonConfig) }
        if let listingError { writer.key("error"); writer.string(listingError) }
        if let daemon { writer.key("daemon"); writer.string(daemon.message); writer.key("daemon_told"); writer.bool(daemon.told) }
        writer.key("streams")
        writer.beginArray()
        for result in results {
            writer.beginObject()
            for (key, value) in result.fields(for: .report) { writer.key(key); writer.value(value) }
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.text + "\n"
    }

    /// Writes the report into `report_dir` (if any) as `<stamp>.json` (or the name claimed for the run).
    func write(_ report: String, stamp: String) {
        guard let directory = configuration.reportDirectory else { return }
        do {
            try FileSystem.createDirectory(directory)
            try AtomicFile.write(text: report, to: "\(directory)/\(fileBase(stamp)).json")
        } catch {
            log("cannot write the report: \(FileSystem.describe(error))")
        }
    }

    /// Draws the stream's figure into the report directory and returns its path: the EM curve
    /// per observed sample, and the first stretch of held-out gaze with the fitted parameters'
    /// filtered and smoothed traces and the current parameters' filtered trace.
    func writeFigure(_ result: StreamRefit, current: ModelParameters, fitted: ModelParameters,
                     stretchFrom segments: [RecordingScan.Segment], stamp: String) -> String? {
        guard let directory = configuration.reportDirectory,
              let segment = segments.first(where: { $0.observations.maskedCount < $0.observations.count }) else { return nil }
        let count = min(segment.observations.count, 600)
        let piece = segment.slice(0..<count)
        let observations = piece.observations
        var stretch: RefitFigure.Stretch?
        if let first = (0..<count).first(where: { !observations.mask[$0] }) {
            let tail = observations.slice(first..<count), start = result.model.start
            if let smoothed = try? fitted.smooth(tail, start: start), let currentFiltered = try? current.filter(tail, start: start) {
                // A binocular stream's gaze is the mean of its eyes (the cyclopean gaze it publishes);
                // its raw point the mean of the eyes seen.
                func gaze(_ p: [Double]) -> (x: Double, y: Double) {
                    guard p.count == 4 else { return (p[0], p[1]) }
                    let left = !p[0].isNaN, right = !p[2].isNaN
                    return left && right ? ((p[0] + p[2]) / 2, (p[1] + p[3]) / 2) : left ? (p[0], p[1]) : (p[2], p[3])
                }
                func project(_ trajectory: StateTrajectory, _ h: Matrix) -> [(x: Double, y: Double)] {
                    (0..<trajectory.count).map { gaze(h * trajectory.mean(at: $0)) }
                }
                stretch = RefitFigure.Stretch(
                    times: Array(piece.times[first...]),
                    raw: (first..<count).map { observations[$0].map(gaze) },
                    filtered: project(smoothed.filter.filtered, fitted.observation), smoothed: project(smoothed.smoothed, fitted.observation),
                    current: project(currentFiltered.filtered, current.observation))
            }
        }
        let figure = RefitFigure(
            title: "gazefit refit — stream \(result.stream): \(result.decision.rawValue)\(dryRun ? " (dry run)" : "")",
            subtitle: ["\(stamp) · \(result.samples) samples in \(result.sequences) sequences (\(result.heldOutSamples) held out) · \(result.iterations) EM iterations"
                       + " (\(result.converged ? "converged" : "not converged")) from \(result.currentSource)",
                       result.reason,
                       "gaze below: the first \(count) samples of the held-out data; fitted parameters filtered and smoothed, current parameters filtered (dashed)"],
            logLikelihoods: result.logLikelihoods, observedSamples: result.trainingObserved, converged: result.converged, stretch: stretch)
        let path = "\(directory)/\(fileBase(stamp))-\(result.stream).svg"
        do {
            try FileSystem.createDirectory(directory)
            try AtomicFile.write(text: figure.svg, to: path)
        } catch {
            log("\(result.stream): cannot write the figure: \(FileSystem.describe(error))")
            return nil
        }
        return path
    }

    /// Removes temporary files an interrupted job left in the report directory
    /// (`.<stamp>[-<stream>].{json,svg}.tmp-<pid>-<random>`) whose writer is gone: its pid is not
    /// running, or the file is more than a day old. A running job's files are left alone.
    func removeLeftovers() {
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
            rest = rest[end...]  // the run's number within its second: `.2`
        }
        if rest == ".json" { return true }
        guard rest.hasPrefix("-"), rest.hasSuffix(".svg") else { return false }
        return GazeTopic.isValid(name: String(rest.dropFirst().dropLast(4)))
    }

    /// `2026-11-25T05:30:00Z` → `20261125T053000Z`, for file names.
    static func fileStamp(_ stamp: String) -> String { String(stamp.filter { $0 != "-" && $0 != ":" }) }
}
