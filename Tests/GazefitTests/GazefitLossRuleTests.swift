import Foundation
import GazeKit
import Testing
import _TestSupport

/// Each loss rule in `gazefit filter/smooth/em` (`--loss`, and `--no-mask-negative` as
/// `--loss none`): a file whose lost rows carry the tracker's mark gives exactly what the same
/// file gives with those rows empty (always masked).
@Suite struct GazefitLossRuleTests {
    static func file(rows: Int, lost: String?, confidence: Bool = false) -> String {
        var text = confidence ? "t,x,y,confidence\n" : "t,x,y\n"
        for i in 0..<rows {
            let t = Double(i) / 250, isLost = i % 9 == 4
            let x = isLost ? (lost ?? "") : "\(500 + Double(i % 7))", y = isLost ? (lost ?? "") : "\(300 + Double(i % 5))"
            text += confidence ? "\(t),\(isLost ? "500" : x),\(isLost ? "300" : y),\(isLost ? 0.1 : 0.95)\n" : "\(t),\(x),\(y)\n"
        }
        return text
    }

    @Test(arguments: [("negative", "-1", false), ("nan", "nan", false), ("zero", "0", false), ("sentinel:-32768", "-32768", false),
                      ("confidence:0.6", "", true)])
    func eachLossRuleMasksItsMark(_ rule: String, _ mark: String, _ confidence: Bool) throws {
        let directory = makeTemporaryDirectory("gazefit-loss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.file(rows: 120, lost: mark, confidence: confidence).write(toFile: directory + "/marked.csv", atomically: true, encoding: .utf8)
        try Self.file(rows: 120, lost: nil).write(toFile: directory + "/empty.csv", atomically: true, encoding: .utf8)
        let params = packageRoot + "/config/params/default.json"
        for command in ["filter", "smooth"] {
            let marked = try runTool("gazefit", [command, "--params", params, "--input", directory + "/marked.csv", "--loss", rule])
            let empty = try runTool("gazefit", [command, "--params", params, "--input", directory + "/empty.csv", "--loss", "none"])
            #expect(marked.status == 0 && empty.status == 0, "\(marked.standardError) \(empty.standardError)")
            #expect(marked.standardOutput == empty.standardOutput && !marked.standardOutput.isEmpty, "\(command) --loss \(rule)")
            // Another rule keeps the marks as gaze (or, for a confidence rule's file, masks nothing it should).
            if !confidence && mark != "nan" {
                let other = try runTool("gazefit", [command, "--params", params, "--input", directory + "/marked.csv", "--loss", "none", "--plausible", "none"])
                #expect(other.status == 0 && other.standardOutput != marked.standardOutput, "\(command): --loss none kept \(mark)")
            }
        }
        let em = try runTool("gazefit", ["em", "--params", params, "--input", directory + "/marked.csv", "--loss", rule, "--fit", "Q,R", "--iterations", "3"])
        let emEmpty = try runTool("gazefit", ["em", "--params", params, "--input", directory + "/empty.csv", "--fit", "Q,R", "--iterations", "3"])
        #expect(em.status == 0 && em.standardOutput == emEmpty.standardOutput, "em --loss \(rule): \(em.standardError)")
    }

    @Test func noMaskNegativeIsLossNoneAndAbsurdRowsAreImplausible() throws {
        let directory = makeTemporaryDirectory("gazefit-loss")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.file(rows: 60, lost: "-1").write(toFile: directory + "/a.csv", atomically: true, encoding: .utf8)
        let params = packageRoot + "/config/params/default.json"
        let alias = try runTool("gazefit", ["filter", "--params", params, "--input", directory + "/a.csv", "--no-mask-negative"])
        let none = try runTool("gazefit", ["filter", "--params", params, "--input", directory + "/a.csv", "--loss", "none"])
        #expect(alias.status == 0 && alias.standardOutput == none.standardOutput)
        // 1e308 in a row: masked (implausible), the output stays finite and equal to the row lost.
        try Self.file(rows: 60, lost: "1e308").write(toFile: directory + "/wild.csv", atomically: true, encoding: .utf8)
        let wild = try runTool("gazefit", ["smooth", "--params", params, "--input", directory + "/wild.csv"])
        let lost = try runTool("gazefit", ["smooth", "--params", params, "--input", directory + "/a.csv"])
        #expect(wild.status == 0 && wild.standardOutput == lost.standardOutput, "\(wild.standardError)")
        let bad = try runTool("gazefit", ["filter", "--params", params, "--input", directory + "/a.csv", "--loss", "sometimes"])
        #expect(bad.status == 2 && bad.standardError.contains("--loss must be"), "\(bad.standardError)")
    }
}
