#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import LinearDynamics

/// A point of the install where the test hook `GAZEFIT_TEST_STOP_BEFORE` can stop the job.
public enum InstallStep: String, Sendable {
    /// The backup's temporary file is written and synced, not yet renamed to `<stream>.prev.json`.
    case backupRename = "backup-rename"
    /// The backup is in place and the new parameters' temporary file is written and synced,
    /// not yet renamed to `<stream>.json`.
    case parametersRename = "params-rename"
}

/// Stage 4, install: the promoted parameters become `<params_dir>/<stream>.json` atomically
/// (temporary file, fsync, rename), the old file kept as `<stream>.prev.json`, with the fit's
/// metadata; a job killed at any point leaves the old or the new file, never a torn one.
struct InstallStage {
    let configuration: RefitConfiguration
    let stopBefore: InstallStep?
    let log: @Sendable (String) -> Void

    /// What installing did.
    enum Outcome {
        /// The parameters are in place at this path.
        case installed(String)
        /// Nothing was installed (the reason is in the result).
        case failed
    }

    /// Installs `parameters` for `result.stream`, stamped `stamp`.
    func run(_ parameters: ModelParameters, stamp: String, _ result: inout StreamRefit) -> Outcome {
        let directory = configuration.parametersDirectory, stream = result.stream
        let path = StreamPaths.parameters(stream, in: directory)
        do {
            if FileManager.default.fileExists(atPath: path) {
                try install(try readFile(path, limit: ParameterFile.sizeLimit, what: "parameter file"), at: StreamPaths.previousParameters(stream, in: directory), step: .backupRename)
            }
            var file = ParameterFile(parameters: parameters)
            file.extra["metadata"] = .object(Dictionary(uniqueKeysWithValues: result.fields(for: .metadata).map { ($0.key, $0.value) }
                + [("fitted_at", .string(stamp)), ("window_hours", .number(configuration.windowHours)), ("fitted", .string(configuration.fitting.description))]))
            try install(Array(file.encoded().utf8), at: path, step: .parametersRename)
        } catch {
            result.decision = .failed
            result.reason = "cannot install: \(error)"
            return .failed
        }
        result.installed = true
        result.parametersPath = path
        return .installed(path)
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
}
