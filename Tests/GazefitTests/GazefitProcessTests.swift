import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// The `gazefit` executable, run as a process on real files.
@Suite struct GazefitProcessTests {
    static let cases = ReferenceCase.all()

    func maskArguments(_ reference: ReferenceCase) -> [String] {
        (reference.model.loss == .none ? ["--loss", "none"] : []) + ["--start", "params"]  // the cases are pykalman's
    }

    /// `--transition-offsets` for a case with per-step offsets (the filter's; EM's when `em` is set and it starts from them).
    func offsetArguments(_ reference: ReferenceCase, em: Bool = false) -> [String] {
        let path = reference.directory + "/transition_offsets.csv"
        let uses = em ? reference.emInitial.transitionOffsets != nil : reference.parameters.transitionOffsets != nil
        return uses ? ["--transition-offsets", path] : []
    }

    @Test(arguments: cases)
    func filterAndSmoothReproducePykalman(_ reference: ReferenceCase) throws {
        // fixed-lag with a lag past the end is the smoother, with lag 0 the filter.
        for (command, key) in [(["filter"], "filter"), (["smooth"], "smoother"), (["fixed-lag", "--lag", "0"], "filter"),
                               (["fixed-lag", "--lag", "1000000"], "smoother")] {
            let output = try runTool("gazefit", command + ["--params", reference.directory + "/params.json",
                                                 "--input", reference.directory + "/observations.csv"]
                                                + maskArguments(reference) + offsetArguments(reference))
            #expect(output.status == 0, "\(output.standardError)")
            let json = try JSONValue.parse(Data(output.standardOutput.utf8))
            let means = json.object!["means"]!.numberRows!.flatMap { $0 }
            let mismatch = firstMismatch(means, reference.expectedRows(key, "means").flatMap { $0 },
                                         relative: 1e-9, absolute: 1e-9, label: "\(command) means")
            #expect(mismatch == nil, "\(mismatch ?? "")")
            let covariances = json.object!["covariances"]!.array!.flatMap { $0.numberRows!.flatMap { $0 } }
            let covarianceMismatch = firstMismatch(covariances, reference.expectedMatrices(key, "covariances").flatMap(\.elements),
                                                   relative: 1e-9, absolute: 1e-9, label: "\(command) covariances")
            #expect(covarianceMismatch == nil, "\(covarianceMismatch ?? "")")
            let logLikelihood = json.object!["loglikelihood"]!.number!
            #expect(isClose(logLikelihood, reference.expected("filter", "loglikelihood").number!, relative: 1e-9, absolute: 1e-9))
        }
    }

    @Test(arguments: cases)
    func emReproducesPykalman(_ reference: ReferenceCase) throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let names = reference.expected("em", "em_vars").array!.map { $0.string! }.joined(separator: ",")
        let iterations = String(Int(reference.expected("em", "iterations").number!))
        let output = try runTool("gazefit", ["em", "--params", reference.directory + "/em_init.json",
                                             "--input", reference.directory + "/observations.csv", "--fit", names,
                                             "--iterations", iterations, "--output", directory + "/fit.json"]
                                     + maskArguments(reference) + offsetArguments(reference, em: true))
        #expect(output.status == 0, "\(output.standardError)")
        #expect(output.standardOutput.isEmpty)
        let fitted = try ParameterFile.read(directory + "/fit.json")
        let mismatch = firstMismatch(fitted.parameters, try reference.expectedParameters("em", "fitted"), relative: 1e-6, absolute: 1e-6)
        #expect(mismatch == nil, "\(mismatch ?? "")")
        let curve = fitted.extra["loglikelihoods"]?.numbers ?? []
        let curveMismatch = firstMismatch(curve, reference.expected("em", "loglikelihoods").numbers!,
                                          relative: 1e-6, absolute: 1e-6, label: "loglikelihoods")
        #expect(curveMismatch == nil, "\(curveMismatch ?? "")")
    }

    @Test func sampleIsReproducibleBySeed() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let params = packageRoot + "/config/params/default.json"
        for (name, seed) in [("a", "42"), ("b", "42"), ("c", "43")] {
            let output = try runTool("gazefit", ["sample", "--params", params, "--steps", "500", "--seed", seed,
                                                 "--rate", "250", "--output", "\(directory)/\(name).csv", "--states", "\(directory)/\(name).states.csv"])
            #expect(output.status == 0, "\(output.standardError)")
        }
        let a = try String(contentsOfFile: directory + "/a.csv", encoding: .utf8)
        #expect(a == (try String(contentsOfFile: directory + "/b.csv", encoding: .utf8)))
        #expect(a != (try String(contentsOfFile: directory + "/c.csv", encoding: .utf8)))
        let file = try ObservationFile.read(directory + "/a.csv")
        #expect(file.observations.count == 500)
        #expect(file.times[250] == 1.0)
        #expect(file.columnNames == ["x", "y"])
        let states = try ObservationFile.read(directory + "/a.states.csv", model: .raw)
        #expect(states.observations.count == 500 && states.observations.dimension == 2)
    }

    /// Each kind of bad input: exit status 2, one stderr line naming the file (and line), no output written.
    @Test func badInputFailsCleanly() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let params = packageRoot + "/config/params/default.json"
        func write(_ name: String, _ text: String) -> String {
            let path = directory + "/" + name
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }
        let good = write("good.csv", "t,x,y\n0,1,2\n0.1,3,4\n")
        let asymmetric = write("asym.json", """
            {"D": [[1,0],[0,1]], "Q": [[1,0.5],[0,1]], "H": [[1,0],[0,1]], "R": [[1,0],[0,1]], "mu_0": [0,0], "sigma_0": [[1,0],[0,1]]}
            """)
        let cases: [(args: [String], mentions: [String])] = [
            (["filter", "--params", params, "--input", directory + "/missing.csv"], ["missing.csv", "no such file"]),
            (["filter", "--params", params, "--input", write("ragged.csv", "t,x,y\n0,1,2\n0.1,3\n")], ["ragged.csv:3", "fields"]),
            (["filter", "--params", params, "--input", write("word.csv", "t,x,y\n0,1,2\n0.1,3,abc\n")], ["word.csv:3", "abc"]),
            (["filter", "--params", params, "--input", write("wide.csv", "t,x,y,z\n0,1,2,3\n")], ["wide.csv", "3 observed columns"]),
            (["filter", "--params", params, "--input", write("noheader.csv", "0,1,2\n")], ["noheader.csv:1", "header"]),
            (["smooth", "--params", asymmetric, "--input", good], ["asym.json", "Q", "symmetric"]),
            (["filter", "--params", write("broken.json", "{\"D\": [[1"), "--input", good], ["broken.json", "JSON"]),
            (["filter", "--params", write("comma.json", "{\n  \"D\": [[1, 0], [0, 1]],\n  ,\n}"), "--input", good], ["comma.json:3:", "not valid JSON"]),
            (["filter", "--params", write("huge.json", "{\"D\": [[1e999, 0], [0, 1]]}"), "--input", good], ["huge.json", "1e999"]),
            (["filter", "--params", params, "--input", directory], ["is a directory"]),
            (["filter", "--params", "--input", good], ["--params needs a value"]),
            (["filter", "--params", params, "--input", directory + "/missing.csv", "--input", good], ["--input is given twice"]),
            (["em", "--params", params, "--input", write("header.csv", "t,x,y\n"), "--input", good, "--fit", "R", "--iterations", "2"],
             ["header.csv:2", "no samples"]),
            (["filter", "--params", params, "--input", good, "--frobnicate"], ["--frobnicate"]),
            (["em", "--params", params, "--input", good, "--fit", "D,X", "--iterations", "2"], ["X"]),
            (["em", "--params", params, "--input", good, "--fit", "D", "--iterations", "many"], ["--iterations"]),
        ]
        for (arguments, mentions) in cases {
            let output = try runTool("gazefit", arguments + ["--output", directory + "/out.json"])
            #expect(output.status == 2, "\(arguments): status \(output.status)")
            let lines = output.standardError.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(output.standardError)")
            for word in mentions { #expect(output.standardError.contains(word), "\(arguments): \(output.standardError) should mention \(word)") }
            #expect(!FileManager.default.fileExists(atPath: directory + "/out.json"), "\(arguments) wrote output")
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test func aByteOrderMarkIsSkipped() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plain = "t,x,y\n0,510,380\n0.1,-1,-1\n0.2,515,384\n"
        try plain.write(toFile: directory + "/plain.csv", atomically: true, encoding: .utf8)
        try ("\u{FEFF}" + plain).write(toFile: directory + "/bom.csv", atomically: true, encoding: .utf8)
        let params = packageRoot + "/config/params/default.json"
        let withMark = try runTool("gazefit", ["filter", "--params", params, "--input", directory + "/bom.csv"])
        #expect(withMark.status == 0, "\(withMark.standardError)")
        #expect(withMark.standardOutput == (try runTool("gazefit", ["filter", "--params", params, "--input", directory + "/plain.csv"])).standardOutput)
    }

    /// An unstable model over a long masked stretch: exit 1 and one line, never `null` or ∞ written.
    @Test func estimatesThatOverflowAreAnErrorNotOutput() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var unstable = try ParameterFile.read(packageRoot + "/config/params/default.json").parameters
        unstable.transition = Matrix.diagonal([1.5, 1.5])
        try ParameterFile(parameters: unstable).write(to: directory + "/unstable.json")
        try ("t,x,y\n0,500,400\n" + (1...1000).map { "\(Double($0) / 60),-1,-1\n" }.joined())
            .write(toFile: directory + "/gap.csv", atomically: true, encoding: .utf8)
        for command in ["filter", "smooth"] {
            let output = try runTool("gazefit", [command, "--params", directory + "/unstable.json", "--input", directory + "/gap.csv",
                                                 "--output", directory + "/out.json"])
            #expect(output.status == 1)
            #expect(output.standardError.split(separator: "\n").count == 1 && output.standardError.contains("gap.csv")
                    && output.standardError.contains("not finite"), "\(output.standardError)")
            #expect(!FileManager.default.fileExists(atPath: directory + "/out.json"))
        }
    }

    @Test func sampleWritesBothFilesOrNeither() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = try runTool("gazefit", ["sample", "--params", packageRoot + "/config/params/default.json", "--steps", "10", "--seed", "1",
                                             "--output", directory + "/obs.csv", "--states", directory + "/missing/states.csv"])
        #expect(output.status == 2 && output.standardError.contains("missing/states.csv"), "\(output.standardError)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    /// A full disk or a closed pipe on stdout: one line and exit 1, not a trap or SIGPIPE.
    @Test func aFailingStandardOutputIsOneLine() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/gaze.csv"
        let rows = (0..<600).map { step in "\(Double(step) / 60),\(500 + step % 7),\(380 - step % 5)" }
        try (["t,x,y"] + rows).joined(separator: "\n").appending("\n").write(toFile: input, atomically: true, encoding: .utf8)
        for target in ["/dev/full", "closed pipe"] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath("gazefit"))
            process.arguments = ["filter", "--params", packageRoot + "/config/params/default.json", "--input", input]
            let errors = Pipe(), closed = Pipe()
            if target == "/dev/full" {
                process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
            } else {
                process.standardOutput = closed
                try closed.fileHandleForReading.close()
            }
            process.standardError = errors
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationReason == .exit && process.terminationStatus == 1, "\(target): \(process.terminationStatus)")
            #expect(message.split(separator: "\n").count == 1 && message.contains("cannot write to standard output"), "\(target): \(message)")
        }
    }

    @Test func helpListsEveryCommandAndOption() throws {
        let top = try runTool("gazefit", ["--help"])
        #expect(top.status == 0)
        for command in ["filter", "smooth", "em", "sample"] {
            #expect(top.standardOutput.contains(command))
            let help = try runTool("gazefit", [command, "--help"])
            #expect(help.status == 0 && help.standardOutput.hasPrefix("usage: gazefit \(command)"))
        }
        let em = try runTool("gazefit", ["em", "--help"])
        for option in ["--params", "--input", "--fit", "--iterations", "--tolerance", "--output", "--no-mask-negative"] {
            #expect(em.standardOutput.contains(option))
        }
    }
}
