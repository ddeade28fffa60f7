import Foundation
import GazeKit
import LinearDynamics

/// Where a stream's parameters come from: its own `<params-dir>/<stream>.json` where that
/// exists, otherwise the daemon's `--params` file. Every file is read at start and at each
/// reload, by `ParameterLoader` off the sample path; a new stream only looks its parameters
/// up here, so no file is ever read on the sample path.
///
/// Bounds: each file is a regular file of at most `ParameterFile.sizeLimit` bytes within the
/// dimension limits (`ParameterFile.read`); at most `maximumStreamFiles` per-stream files are
/// read (in name order), so a reload's work and memory are bounded whatever the directory holds.
struct ParameterSource: Sendable {
    private(set) var global: ModelParameters
    private(set) var globalPath: String
    private(set) var directory: String?
    /// Each stream's own valid parameters, by stream name, with the file's path.
    private(set) var own: [String: (parameters: ModelParameters, path: String)] = [:]
    /// Per-stream files that failed validation (kept out of `own`), by stream name.
    private(set) var failures: [String: GazeFileError] = [:]

    /// At most this many per-stream files are read at a reload.
    let maximumStreamFiles: Int

    /// Reads the global file (the daemon cannot start without it) and every per-stream file.
    init(path: String, directory: String?, maximumStreamFiles: Int) throws(GazeFileError) {
        global = try Self.load(path)
        globalPath = path
        self.directory = directory
        self.maximumStreamFiles = maximumStreamFiles
        readStreamFiles()
    }

    /// Reads and validates a parameter file for the daemon (m must be 2: x and y).
    static func load(_ path: String) throws(GazeFileError) -> ModelParameters {
        let parameters = try ParameterFile.read(path).parameters
        guard parameters.observationDimension == 2 else {
            throw GazeFileError(path: path, "the daemon observes gaze (x, y): H must have 2 rows, it has \(parameters.observationDimension)")
        }
        return parameters
    }

    /// A fresh reading of `path` and `directory`; where the global file fails, the previous
    /// global parameters stay and the failure is returned with the new source.
    func reloaded(path: String, directory: String?) -> (source: ParameterSource, globalFailure: GazeFileError?) {
        var next = self
        var failure: GazeFileError?
        do {
            next.global = try Self.load(path)
            next.globalPath = path
        } catch {
            failure = error
        }
        next.directory = directory
        next.readStreamFiles()
        return (next, failure)
    }

    /// Reads `<directory>/<stream>.json` for every valid stream name there (not `.prev.json`).
    private mutating func readStreamFiles() {
        own = [:]
        failures = [:]
        guard let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        var read = 0
        for file in names.sorted() where file.hasSuffix(".json") && !file.hasSuffix(".prev.json") && !file.hasPrefix(".") {
            let stream = String(file.dropLast(5))
            guard GazeTopic.isValid(name: stream) else { continue }
            guard read < maximumStreamFiles else { break }
            read += 1
            let path = StreamPaths.parameters(stream, in: directory)
            do { own[stream] = (try Self.load(path), path) } catch { failures[stream] = error }
        }
    }

    /// The parameters for a stream and where they came from: its own file when present and
    /// valid, else the global ones. A present but invalid file is returned as the error too.
    func parameters(for stream: String) -> (parameters: ModelParameters, source: String, error: GazeFileError?) {
        if let entry = own[stream] { return (entry.parameters, entry.path, nil) }
        return (global, globalPath, failures[stream])
    }
}
