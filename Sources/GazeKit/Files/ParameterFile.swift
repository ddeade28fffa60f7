import Foundation
import LinearDynamics

/// Model parameters as JSON: `{"D": [[…]], "Q": …, "H": …, "R": …, "mu_0": […], "sigma_0": …}`,
/// nested row-major arrays, the format of pykalman's reference cases. Other keys (such as a
/// refit's `"metadata"`) are kept aside and ignored by the model.
public struct ParameterFile: Sendable {
    /// The model parameters, validated.
    public var parameters: ModelParameters
    /// Every other top-level key, as parsed JSON (kept so a rewrite loses nothing).
    public var extra: [String: JSONValue]

    /// Parameters with no extra keys.
    public init(parameters: ModelParameters, extra: [String: JSONValue] = [:]) {
        self.parameters = parameters
        self.extra = extra
    }

    /// The largest parameter file read: a model at the dimension limits with every number at
    /// full precision and a refit's metadata is far smaller (about 30 KiB).
    public static let sizeLimit = 1 << 20
    /// The largest state size n accepted. A filter step costs about n³ operations; at n = 16
    /// a step takes a few microseconds here, so a stream at 2 kHz stays within its budget beside
    /// others, while n = 500 (0.4 s a step) would stall the daemon.
    public static let maximumStateDimension = 16
    /// The largest observation size m accepted (gaze is 2; both eyes 4).
    public static let maximumObservationDimension = 8

    /// Reads and validates a parameter file (a regular file of at most `sizeLimit` bytes).
    /// - Throws: `GazeFileError` naming the file and the problem (not a regular file, too large,
    ///   missing key, shape, dimension over the limit, invalid value).
    public static func read(_ path: String) throws(GazeFileError) -> ParameterFile {
        try decode(readFile(path, limit: sizeLimit, what: "parameter file"), path: path)
    }

    /// Parses and validates parameter JSON; `path` names the source in errors.
    public static func decode(_ data: Data, path: String) throws(GazeFileError) -> ParameterFile {
        let value: JSONValue
        do { value = try JSONValue.parse(data) } catch { throw GazeFileError(path: path, line: error.line, "not valid JSON: \(error.problem)") }
        guard case .object(var object) = value else { throw GazeFileError(path: path, "expected a JSON object of parameters") }
        func take(_ key: String) throws(GazeFileError) -> JSONValue {
            guard let value = object.removeValue(forKey: key) else { throw GazeFileError(path: path, "missing parameter \"\(key)\"") }
            return value
        }
        func matrix(_ key: String) throws(GazeFileError) -> Matrix {
            let value = try take(key)
            guard let rows = value.numberRows, let matrix = Matrix(nestedRows: rows), matrix.rows > 0 else {
                throw GazeFileError(path: path, "\"\(key)\" must be a non-empty array of equal-length arrays of numbers")
            }
            return matrix
        }
        let transition = try matrix("D"), transitionCovariance = try matrix("Q")
        let observation = try matrix("H"), observationCovariance = try matrix("R")
        guard let initialMean = try take("mu_0").numbers else {
            throw GazeFileError(path: path, "\"mu_0\" must be an array of numbers")
        }
        let initialCovariance = try matrix("sigma_0")
        guard transition.rows <= maximumStateDimension else {
            throw GazeFileError(path: path, "\"D\" is \(transition.rows)×\(transition.columns): the state size n is limited to \(maximumStateDimension)")
        }
        guard observation.rows <= maximumObservationDimension else {
            throw GazeFileError(path: path, "\"H\" has \(observation.rows) rows: the observation size m is limited to \(maximumObservationDimension)")
        }
        let parameters = ModelParameters(
            transition: transition, transitionCovariance: transitionCovariance, observation: observation,
            observationCovariance: observationCovariance, initialMean: initialMean, initialCovariance: initialCovariance)
        do { try parameters.validate() } catch { throw GazeFileError(path: path, "invalid parameters: \(error)") }
        return ParameterFile(parameters: parameters, extra: object)
    }

    /// The JSON text: the six parameters, then the extra keys, sorted, pretty enough to read.
    public func encoded() -> String {
        var writer = JSONTextWriter()
        writer.beginObject()
        let p = parameters
        writer.key("D"); writer.matrix(p.transition)
        writer.key("Q"); writer.matrix(p.transitionCovariance)
        writer.key("H"); writer.matrix(p.observation)
        writer.key("R"); writer.matrix(p.observationCovariance)
        writer.key("mu_0"); writer.numbers(p.initialMean)
        writer.key("sigma_0"); writer.matrix(p.initialCovariance)
        for key in extra.keys.sorted() { writer.key(key); writer.value(extra[key]!) }
        writer.endObject()
        return writer.text + "\n"
    }

    /// Writes the file atomically (temporary file, fsync, rename).
    public func write(to path: String) throws(GazeFileError) {
        try AtomicFile.write(text: encoded(), to: path)
    }
}
