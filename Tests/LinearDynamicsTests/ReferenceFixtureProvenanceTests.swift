import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// The repository's reference fixtures agree with the project's shared copies (made with pykalman
/// for the whole project), where those sit beside the checkout. The only test that looks outside
/// the repository: without `../shared/reference` (a clone on its own) it reports itself skipped.
@Suite struct ReferenceFixtureProvenanceTests {
    /// `$GAZEFILTER_SHARED/reference`, or `../shared/reference` beside the package.
    static let sharedReference: String = {
        let shared = ProcessInfo.processInfo.environment["GAZEFILTER_SHARED"] ?? packageRoot + "/../shared"
        return shared + "/reference"
    }()
    static var sharedIsPresent: Bool { FileManager.default.fileExists(atPath: sharedReference) }

    @Test(.enabled(if: sharedIsPresent, "no ../shared/reference beside the checkout: the fixtures are not compared"))
    func fixturesMatchTheSharedCases() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.sharedReference).filter {
            FileManager.default.fileExists(atPath: Self.sharedReference + "/" + $0 + "/expected.json")
        }.sorted()
        #expect(!names.isEmpty, "\(Self.sharedReference) holds no case")
        for name in names {
            let fixture = referenceFixturesDirectory + "/" + name
            #expect(FileManager.default.fileExists(atPath: fixture + "/expected.json"), "\(name): in ../shared/reference, not in the fixtures")
            guard FileManager.default.fileExists(atPath: fixture + "/expected.json") else { continue }
            let shared = Self.sharedReference + "/" + name
            for input in ["params.json", "em_init.json"] {
                let ours = try ParameterFile.read(fixture + "/" + input).parameters
                let theirs = try ParameterFile.read(shared + "/" + input).parameters
                #expect(firstMismatch(ours, theirs, relative: 0, absolute: 0) == nil, "\(name)/\(input) differs from the shared copy")
            }
            let ours = try readJSON(fixture + "/expected.json"), theirs = try readJSON(shared + "/expected.json")
            // Read unmasked but for empty cells, so that negative (lost) gaze values are compared too.
            let raw = StreamModel.raw
            let ourObservations = try ObservationFile.read(fixture + "/observations.csv", model: raw).observations
            let sharedObservations = try ObservationFile.read(shared + "/observations.csv", model: raw).observations
            let sameValues = ourObservations.values.count == sharedObservations.values.count
                && zip(ourObservations.values, sharedObservations.values).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
            #expect(sameValues && ourObservations.mask == sharedObservations.mask, "\(name)/observations.csv differs from the shared copy")
            for key in ["n_timesteps", "n_masked"] {
                #expect(ours.object?[key]?.number == theirs.object?[key]?.number, "\(name): \(key)")
            }
            let paths: [([String], Double)] = [
                (["filter", "means"], 1e-9), (["filter", "covariances"], 1e-9), (["filter", "loglikelihood"], 1e-9),
                (["smoother", "means"], 1e-9), (["smoother", "covariances"], 1e-9), (["em", "loglikelihoods"], 1e-6),
            ] + ["D", "Q", "H", "R", "mu_0", "sigma_0"].map { (["em", "fitted", $0], 1e-6) }
            for (path, tolerance) in paths {
                let mismatch = firstMismatch(flattened(ours, path), flattened(theirs, path),
                                             relative: tolerance, absolute: tolerance, label: "\(name): \(path.joined(separator: "."))")
                #expect(mismatch == nil, "\(mismatch ?? "")")
            }
        }
    }

    func readJSON(_ path: String) throws -> JSONValue {
        try JSONValue.parse(Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Every number at a key path, in order, however deeply nested.
    func flattened(_ value: JSONValue, _ path: [String]) -> [Double] {
        var value = value
        for key in path { value = value.object?[key] ?? .null }
        func walk(_ value: JSONValue) -> [Double] {
            if let number = value.number { return [number] }
            return (value.array ?? []).flatMap(walk)
        }
        return walk(value)
    }
}
