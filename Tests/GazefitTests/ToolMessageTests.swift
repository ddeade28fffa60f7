import Foundation
import GazeKit
import Testing
import _TestSupport

/// The tools' one-line messages read as a person expects: the program named once, the user's own
/// path (never a temporary name), the system's reason in plain words, and out-of-range values refused.
@Suite struct ToolMessageTests {
    @Test(arguments: [(["--bogus"], "gazefilterd: unknown option --bogus"), (["--rate", "-1"], "gazefilterd: --rate must be")])
    func gazefilterdNamesItselfOnce(_ arguments: [String], _ expectedStart: String) throws {
        let output = try runTool("gazefilterd", arguments)
        #expect(output.status == 2)
        #expect(output.standardError.hasPrefix(expectedStart), "\(output.standardError)")
        #expect(output.standardError.components(separatedBy: "gazefilterd:").count == 2, "\(output.standardError)")
        #expect(output.standardError.split(separator: "\n").count == 1, "\(output.standardError)")
    }

    /// A file whose y column is empty throughout never identifies the state under the diffuse
    /// start: one line naming the file and the cause, exit 2 (not "no non-empty sequence").
    @Test func emOnAColumnNeverObservedNamesTheFileAndTheCause() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/x-only.csv"
        try ("t,x,y\n" + (0..<50).map { "\(Double($0) / 60),\(500 + $0 % 7)," }.joined(separator: "\n") + "\n")
            .write(toFile: input, atomically: true, encoding: .utf8)
        let output = try runTool("gazefit", ["em", "--params", packageRoot + "/config/params/simulate-gaze.json", "--input", input,
                                             "--fit", "D,Q", "--iterations", "5"])
        #expect(output.status == 2)
        #expect(output.standardError.hasPrefix("gazefit: \(input): no sequence identifies the state under the diffuse start rule"), "\(output.standardError)")
        #expect(output.standardError.filter { $0 == "\n" }.count == 1)
        let withParams = try runTool("gazefit", ["em", "--params", packageRoot + "/config/params/simulate-gaze.json", "--input", input,
                                                 "--fit", "D,Q", "--iterations", "5", "--start", "params"])
        #expect(withParams.status == 0, "\(withParams.standardError)")
    }

    @Test func anOutputIntoAMissingDirectoryNamesTheUsersPath() throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let input = directory + "/gaze.csv"
        try "t,x,y\n0,500,400\n0.1,501,401\n".write(toFile: input, atomically: true, encoding: .utf8)
        for name in ["out.json", "out.csv"] {
            let target = directory + "/missing/" + name
            let output = try runTool("gazefit", ["filter", "--params", packageRoot + "/config/params/default.json",
                                                 "--input", input, "--output", target])
            #expect(output.status == 2)
            #expect(output.standardError == "gazefit: \(target): cannot write: the directory \(directory)/missing does not exist\n",
                    "\(output.standardError)")
            #expect(!output.standardError.contains(".tmp-"))
        }
    }

    @Test(arguments: ["0", "-3", "1.5"])
    func emRefusesIterationsBelowOne(_ iterations: String) throws {
        let output = try runTool("gazefit", ["em", "--params", packageRoot + "/config/params/default.json", "--input", "/nonexistent.csv",
                                             "--fit", "D", "--iterations", iterations])
        #expect(output.status == 2)
        #expect(output.standardError.hasPrefix("gazefit em: --iterations must be a whole number in 1...1000000"), "\(output.standardError)")
    }
}
