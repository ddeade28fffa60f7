import Foundation
import GazeKit
import LinearDynamics

/// Where a stream's parameters come from: its own `<params-dir>/<stream>.json` where that
/// exists, otherwise the daemon's `--params` file. Files are read when a stream first appears
/// and at every reload; a file that fails validation is reported and the old values stay.
struct ParameterSource {
    private(set) var global: ModelParameters
    private(set) var globalPath: String
    var directory: String?

    /// Loads the global parameters; the daemon cannot start without them.
    init(path: String, directory: String?) throws(GazeFileError) {
        global = try Self.load(path)
        globalPath = path
        self.directory = directory
    }

    /// Reads and validates a parameter file for the daemon (m must be 2: x and y).
    static func load(_ path: String) throws(GazeFileError) -> ModelParameters {
        let parameters = try ParameterFile.read(path).parameters
        guard parameters.observationDimension == 2 else {
            throw GazeFileError(path: path, "the daemon observes gaze (x, y): H must have 2 rows, it has \(parameters.observationDimension)")
        }
        return parameters
    }

    /// Re-reads the global file; on failure keeps the old parameters and rethrows.
    mutating func reloadGlobal(path: String) throws(GazeFileError) {
        global = try Self.load(path)
        globalPath = path
    }

    /// The per-stream file's path, if a parameter directory is configured.
    func streamPath(_ stream: String) -> String? { directory.map { StreamPaths.parameters(stream, in: $0) } }

    /// The parameters for a stream and where they came from: its own file when present and
    /// valid, else the global ones. A present but invalid file is returned as the error too.
    func parameters(for stream: String) -> (parameters: ModelParameters, source: String, error: GazeFileError?) {
        if let path = streamPath(stream), FileManager.default.fileExists(atPath: path) {
            do { return (try Self.load(path), path, nil) } catch { return (global, globalPath, error) }
        }
        return (global, globalPath, nil)
    }
}
