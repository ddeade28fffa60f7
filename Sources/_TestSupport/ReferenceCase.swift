import Foundation
import GazeKit
import LinearDynamics

/// Where the shared folder (reference cases, docs) sits: `$GAZEFILTER_SHARED`, or `../shared`
/// beside the package.
public let sharedDirectory: String = {
    if let override = ProcessInfo.processInfo.environment["GAZEFILTER_SHARED"] { return override }
    return packageRoot + "/../shared"
}()

/// The package's root directory, found from this file's path.
public let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// One case of `shared/reference`: pykalman's numbers for a parameter set and observations.
public struct ReferenceCase: Sendable, CustomStringConvertible {
    /// The folder name, e.g. `gaze_2d`.
    public let name: String
    /// The folder's path.
    public let directory: String
    /// The parameters to filter and smooth with.
    public let parameters: ModelParameters
    /// The parameters EM starts from.
    public let emInitial: ModelParameters
    /// The observations, masked as the case's `n_masked` says (see `model`).
    public let observations: ObservationFile
    /// The stream model whose loss rule reproduces the case's `n_masked`: gaze cases mask
    /// negative values, the oscillator cases (whose observations are often negative) nothing.
    public let model: StreamModel
    /// `expected.json`.
    public let expected: JSONValue

    public var description: String { name }

    /// Every case folder under `shared/reference`, sorted by name.
    public static func all() -> [ReferenceCase] {
        let root = sharedDirectory + "/reference"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().compactMap { name in
            let directory = root + "/" + name
            guard FileManager.default.fileExists(atPath: directory + "/expected.json") else { return nil }
            do { return try ReferenceCase(directory: directory) } catch {
                fatalError("reference case \(name) cannot be loaded: \(error)")
            }
        }
    }

    /// Loads the case in `directory`.
    public init(directory: String) throws {
        self.directory = directory
        name = URL(fileURLWithPath: directory).lastPathComponent
        parameters = try ParameterFile.read(directory + "/params.json").parameters
        emInitial = try ParameterFile.read(directory + "/em_init.json").parameters
        expected = try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json")))
        let maskedCount = Int(expected.object?["n_masked"]?.number ?? -1)
        let plain = try ObservationFile.read(directory + "/observations.csv", model: .raw)
        if plain.observations.maskedCount == maskedCount {
            observations = plain
            model = .raw
        } else {
            model = StreamModel(loss: .negative, plausible: nil)
            observations = try ObservationFile.read(directory + "/observations.csv", model: model)
        }
    }

    /// A value at a path of keys in `expected.json`, e.g. `["filter", "means"]`.
    public func expected(_ path: String...) -> JSONValue {
        var value = expected
        for key in path {
            guard let next = value.object?[key] else { fatalError("\(name): expected.json has no \(path.joined(separator: "."))") }
            value = next
        }
        return value
    }

    /// Expected T×n means as rows.
    public func expectedRows(_ path: String...) -> [[Double]] {
        var value = expected
        for key in path { value = value.object![key]! }
        return value.numberRows!
    }

    /// Expected T×n×n covariances.
    public func expectedMatrices(_ path: String...) -> [Matrix] {
        var value = expected
        for key in path { value = value.object![key]! }
        return value.array!.map { Matrix(nestedRows: $0.numberRows!)! }
    }

    /// Expected parameters at a path (EM's `fitted`).
    public func expectedParameters(_ path: String...) throws -> ModelParameters {
        var value = expected
        for key in path { value = value.object![key]! }
        var writer = JSONTextWriter()
        writer.value(value)
        return try ParameterFile.decode(Data(writer.text.utf8), path: "\(name)/expected.json").parameters
    }
}
