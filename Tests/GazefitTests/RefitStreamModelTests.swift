import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// `gazefit refit` reads each stream by the daemon's own model of it (`daemon_config`): loss
/// rule, plausible range, restarts; and it works from any kind of path.
@Suite struct RefitStreamModelTests {
    /// 3,000 samples at 250 Hz from a random walk with noise, every 20th lost in the stream's own way.
    static func recording(lostAs lost: String, confidence: Bool, wild: Bool = false) -> String {
        var generator = SeededGenerator(seed: 11)
        let drawn = RefitTests.truth.sample(steps: 3000, using: &generator).observations
        var text = confidence ? "t,x,y,confidence\n" : "t,x,y\n"
        for i in 0..<3000 {
            let t = Double(i) / 250
            if wild && i == 1500 {
                text += "\(t),1e308,5\n"  // one absurd but finite coordinate
                continue
            }
            let isLost = i % 20 == 7
            let x = isLost && !confidence ? lost : "\(drawn[i]![0])", y = "\(drawn[i]![1])"
            text += confidence ? "\(t),\(x),\(y),\(isLost ? 0.2 : 0.95)\n" : "\(t),\(x),\(y)\n"
        }
        return text
    }

    /// Each loss rule in the refit's reader: the daemon's config says how each stream marks a
    /// lost sample, and the refit counts and masks exactly those (150 of 3,000), taking the
    /// rest as gaze; a stream whose convention differs from the rule would lose none.
    @Test func theRefitReadsEachStreamByTheDaemonsLossRule() throws {
        let layout = try RefitTests.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        let cases: [(stream: String, rule: String, lostAs: String, confidence: Bool)] = [
            ("neg", "negative", "-1", false), ("zero", "zero", "0", false), ("sentinel", "sentinel:-32768", "-32768", false),
            ("nan", "nan", "nan", false), ("conf", "confidence:0.6", "", true), ("plain", "none", "-5", false),
        ]
        let streams = cases.map { "\"\($0.stream)\": {\"loss\": \"\($0.rule)\"}" }.joined(separator: ", ")
        let daemonConfig = layout.root + "/gazefilterd.json"
        try """
            {"params": "\(layout.defaultParams)", "params_dir": "\(layout.params)", "record_dir": "\(layout.records)",
             "reset_after_s": 1, "streams": {\(streams)}}
            """.write(toFile: daemonConfig, atomically: true, encoding: .utf8)
        for entry in cases {
            try FileManager.default.createDirectory(atPath: "\(layout.records)/\(entry.stream)", withIntermediateDirectories: true)
            try Self.recording(lostAs: entry.lostAs, confidence: entry.confidence)
                .write(toFile: "\(layout.records)/\(entry.stream)/\(RefitTests.today()).csv", atomically: true, encoding: .utf8)
        }
        // Paths come from the daemon's config: no --record-dir, --params-dir or --default-params here.
        let output = try runTool("gazefit", ["refit", "--daemon-config", daemonConfig, "--report-dir", "none", "--reload", "none",
                                             "--dry-run", "--iterations", "5"])
        #expect(output.status == 0, "\(output.standardError)")
        let report = try RefitTests.report(output)
        for entry in cases {
            let result = try #require(report[entry.stream], "\(output.standardOutput)")
            let expectedLost = entry.rule == "none" ? 0 : 150
            #expect(result["lost_samples"]?.number == Double(expectedLost), "\(entry.stream): \(result)")
            #expect(result["corrupt_lines"]?.number == 0, "\(entry.stream): \(result)")
            #expect(result["observed_samples"]?.number == Double(3000 - expectedLost), "\(entry.stream): \(result)")
            #expect(result["started_from"]?.string == layout.defaultParams)
        }
    }

    /// One coordinate of 1e308 in a recording is masked and counted as implausible: it
    /// neither fails nor blocks the stream's refit, and the fit is the one without it.
    @Test func anAbsurdCoordinateNeitherFailsNorBlocksTheRefit() throws {
        let layout = try RefitTests.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try FileManager.default.createDirectory(atPath: "\(layout.records)/wild", withIntermediateDirectories: true)
        try Self.recording(lostAs: "-1", confidence: false, wild: true)
            .write(toFile: "\(layout.records)/wild/\(RefitTests.today()).csv", atomically: true, encoding: .utf8)
        let output = try runTool("gazefit", layout.arguments(["--reload", "none", "--min-improvement", "0.001"]))
        #expect(output.status == 0, "\(output.standardError)")
        let result = try #require(try RefitTests.report(output)["wild"], "\(output.standardOutput)")
        #expect(result["decision"]?.string == "promoted", "\(result)")
        #expect(result["implausible_samples"]?.number == 1 && result["corrupt_lines"]?.number == 0, "\(result)")
        let fitted = try ParameterFile.read(layout.params + "/wild.json").parameters
        #expect(fitted.observationCovariance.isFinite && fitted.observationCovariance[0, 0] < 10, "\(fitted.observationCovariance)")
    }

    /// `--params-dir` (and the report directory) of every kind: relative without a slash and
    /// not existing (which crashed with SIGILL), relative with parents, `./`, absolute, existing.
    @Test(arguments: ["p", "p/q/", "./r", "../up-PID/s", "ABS/t", "ABS/existing"])
    func theParametersDirectoryMayBeAnyPath(_ kind: String) throws {
        let layout = try RefitTests.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        let work = layout.root + "/work"
        try FileManager.default.createDirectory(atPath: work + "/existing", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: layout.root + "/existing", withIntermediateDirectories: true)
        let given = kind.replacingOccurrences(of: "ABS", with: layout.root).replacingOccurrences(of: "PID", with: "\(getpid())-\(UUID().uuidString.prefix(6))")
        defer { if given.hasPrefix("../") { try? FileManager.default.removeItem(atPath: work + "/" + given.split(separator: "/").prefix(2).joined(separator: "/")) } }
        try layout.write(stream: "lab", RefitTests.samples(RefitTests.truth, count: 3000, seed: 1))
        let output = try runTool("gazefit", ["refit", "--record-dir", layout.records, "--params-dir", given, "--default-params", layout.defaultParams,
                                             "--report-dir", given + "/reports", "--reload", "none", "--iterations", "5"], directory: work)
        #expect(output.status == 0, "\(kind): \(output.standardError)")
        let directory = given.hasPrefix("/") ? given : work + "/" + given
        #expect(FileManager.default.fileExists(atPath: directory + "/lab.json"), "\(kind): \(output.standardOutput)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/reports").contains { $0.hasSuffix(".json") }, "\(kind)")
    }

    /// The report and the installed metadata speak one vocabulary: every metadata key but the
    /// fit's own stamp is a report key with the same value, `_current`/`_fitted` for what belongs
    /// to each parameter set, and counts written as integers.
    @Test func theReportAndTheMetadataShareOneVocabulary() throws {
        let layout = try RefitTests.layout()
        defer { try? FileManager.default.removeItem(atPath: layout.root) }
        try layout.write(stream: "lab", RefitTests.samples(RefitTests.truth, count: 3000, seed: 1))
        let output = try runTool("gazefit", layout.arguments(["--reload", "none"]))
        #expect(output.status == 0, "\(output.standardError)")
        let report = try #require(try RefitTests.report(output)["lab"])
        let metadataText = try String(contentsOfFile: layout.params + "/lab.json", encoding: .utf8)
        let metadata = try #require(try ParameterFile.read(layout.params + "/lab.json").extra["metadata"]?.object)
        for (key, value) in metadata where !["fitted_at", "window_hours", "fitted"].contains(key) {
            #expect(report[key] == value, "\(key): \(value) vs \(report[key] as Any)")
        }
        #expect(metadata["held_out_loglikelihood_per_sample_current"] != nil && metadata["held_out_loglikelihood_per_sample_fitted"] != nil)
        for text in [metadataText, output.standardOutput] {
            #expect(!text.contains("per_sample_before") && !text.contains("per_sample_after"))
            for key in ["samples", "observed_samples", "sequences", "iterations", "corrupt_lines"] {
                #expect(text.range(of: "\"\(key)\": ?[0-9]+[,}\n ]", options: .regularExpression) != nil, "\(key) as an integer")
                #expect(text.range(of: "\"\(key)\": ?[0-9]+\\.0", options: .regularExpression) == nil, "\(key) as a float")
            }
        }
    }
}
