import Foundation
import GazeKit
import LinearDynamics

/// Where a stream's parameters come from: its own `<params-dir>/<stream>.json` where that
/// exists, otherwise the daemon's `--params` file (monocular streams) or `--binocular-params`
/// file (binocular ones). Every file is read at start and at each reload, by
/// `ParameterLoader` off the sample path; a new stream only looks its parameters up here, so
/// no file is ever read on the sample path.
///
/// A monocular stream observes gaze (x, y): its parameters have m = 2; a binocular one both
/// eyes (lx, ly, rx, ry): m = 4. A file of the other m is refused with one line naming it.
///
/// Bounds: each file is a regular file of at most `ParameterFile.sizeLimit` bytes within the
/// dimension limits (`ParameterFile.read`); at most `maximumStreamFiles` per-stream files are
/// read (in name order), so a reload's work and memory are bounded whatever the directory holds.
struct ParameterSource: Sendable {
    private(set) var global: ModelParameters
    private(set) var globalPath: String
    /// The binocular streams' default parameters, read when a stream is binocular (nil otherwise).
    private(set) var binocular: ModelParameters?
    private(set) var binocularPath: String?
    private(set) var directory: String?
    /// Each stream's own valid parameters, by stream name, with the file's path.
    private(set) var own: [String: (parameters: ModelParameters, path: String)] = [:]
    /// Per-stream files that failed validation (kept out of `own`), by stream name.
    private(set) var failures: [String: GazeFileError] = [:]

    /// At most this many per-stream files are read at a reload.
    let maximumStreamFiles: Int

    /// Reads the global file (the daemon cannot start without it), the binocular file when
    /// `binocularPath` is given (some stream is binocular: it cannot start without it either)
    /// and every per-stream file.
    init(path: String, binocularPath: String?, directory: String?, maximumStreamFiles: Int) throws(GazeFileError) {
        global = try Self.load(path, binocular: false)
        globalPath = path
        if let binocularPath {
            binocular = try Self.load(binocularPath, binocular: true)
            self.binocularPath = binocularPath
        }
        self.directory = directory
        self.maximumStreamFiles = maximumStreamFiles
        readStreamFiles()
    }

    /// Reads and validates a parameter file for the daemon: m must be 2 (x, y), or 4 (lx, ly,
    /// rx, ry) for binocular streams.
    static func load(_ path: String, binocular: Bool) throws(GazeFileError) -> ModelParameters {
        let parameters = try ParameterFile.read(path).parameters
        if let problem = mismatch(parameters, binocular: binocular) { throw GazeFileError(path: path, problem) }
        return parameters
    }

    /// Why `parameters` cannot serve a stream that is (or is not) binocular, or nil when they can.
    static func mismatch(_ parameters: ModelParameters, binocular: Bool) -> String? {
        StreamModel(binocular: binocular).parameterMismatch(parameters)
    }

    /// A fresh reading of the files; where the global or binocular file fails, the previous
    /// parameters stay and the failure is returned with the new source.
    func reloaded(path: String, binocularPath: String?, directory: String?) -> (source: ParameterSource, globalFailure: GazeFileError?) {
        var next = self
        var failure: GazeFileError?
        do {
            next.global = try Self.load(path, binocular: false)
            next.globalPath = path
        } catch {
            failure = error
        }
        if let binocularPath {
            do {
                next.binocular = try Self.load(binocularPath, binocular: true)
                next.binocularPath = binocularPath
            } catch {
                failure = failure ?? error
            }
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
            do throws(GazeFileError) {
                let parameters = try ParameterFile.read(path).parameters
                // Either kind of stream's; which stream it serves is checked when it is chosen.
                if let problem = Self.mismatch(parameters, binocular: false), Self.mismatch(parameters, binocular: true) != nil {
                    throw GazeFileError(path: path, problem + " (or 4 for a binocular stream: lx, ly, rx, ry)")
                }
                own[stream] = (parameters, path)
            } catch {
                failures[stream] = error
            }
        }
    }

    /// The parameters for a stream and where they came from: its own file when present, valid
    /// and of the stream's kind, else the default of its kind. A present but unusable file is
    /// returned as the error too. Nil parameters: a binocular stream and no binocular file read.
    func parameters(for stream: String, binocular: Bool) -> (parameters: ModelParameters?, source: String, error: GazeFileError?) {
        var error = failures[stream]
        if let entry = own[stream] {
            guard let problem = Self.mismatch(entry.parameters, binocular: binocular) else { return (entry.parameters, entry.path, nil) }
            error = GazeFileError(path: entry.path, problem)  // the caller names the stream
        }
        return binocular ? (self.binocular, binocularPath ?? "(no binocular_params read)", error) : (global, globalPath, error)
    }
}
