import Foundation
import GazeKit
import LinearDynamics

/// The package's root directory, found from this file's path.
public let packageRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// The repository's pykalman reference cases (made by `scripts/make-reference`).
public let referenceFixturesDirectory = packageRoot + "/Tests/Fixtures/reference"

/// One reference case (`Tests/Fixtures/reference/<name>`): pykalman's numbers for a parameter set
/// and observations.
public struct ReferenceCase: Sendable, CustomStringConvertible {
    /// The folder name, e.g. `gaze_2d`.
    public let name: String
    /// The folder's path.
    public let directory: String
    /// The parameters to filter and smooth with.
    public let parameters: ModelParameters
    /// The parameters EM starts from.
    public let emInitial: ModelParameters
    /// The observations, masked by the case's loss rule (see `model`).
    public let observations: ObservationFile
    /// The stream model whose loss rule the case was made with (`mask_negative` in
    /// `expected.json`): gaze cases mask negative values, the oscillator cases (whose
    /// observations are often negative) nothing.
    public let model: StreamModel
    /// `expected.json`.
    public let expected: JSONValue

    public var description: String { name }

    /// Every case folder under `root` (the repository's fixtures unless told), sorted by name.
    public static func all(in root: String = referenceFixturesDirectory) -> [ReferenceCase] {
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
        guard let masksNegative = expected.object?["mask_negative"]?.bool else {
            throw ReferenceCaseError(directory: directory, problem: "expected.json has no boolean mask_negative (rerun scripts/make-reference)")
        }
        model = masksNegative ? StreamModel(loss: .negative, plausible: nil) : .raw
        observations = try ObservationFile.read(directory + "/observations.csv", model: model)
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

/// A reference case folder that cannot be used, with the reason.
public struct ReferenceCaseError: Error, CustomStringConvertible {
    public let directory: String
    public let problem: String
    public var description: String { "\(directory): \(problem)" }
}
