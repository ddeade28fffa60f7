import Foundation
import GazeKit
import Testing
import _TestSupport

/// Issue 11, problem 6: refits in the same second never write the same report name (each run
/// claims its name with an exclusive create: `<stamp>.json`, `<stamp>.2.json`, …).
@Suite struct RefitReportNameTests {
    @Test func refitsInTheSameSecondWriteTheirOwnReports() throws {
        let directory = makeTemporaryDirectory("reports")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/rec", withIntermediateDirectories: true)
        // Four jobs at once (nothing to fit: each only reports), so most share a second.
        let jobs = (0..<4).map { _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath("gazefit"))
            process.arguments = ["refit", "--record-dir", directory + "/rec", "--params-dir", directory + "/params",
                                 "--default-params", packageRoot + "/config/params/default.json", "--report-dir", directory + "/reports", "--reload", "none"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            return process
        }
        for job in jobs { try job.run() }
        for job in jobs { job.waitUntilExit() }
        #expect(jobs.allSatisfy { $0.terminationStatus == 0 })
        let reports = try FileManager.default.contentsOfDirectory(atPath: directory + "/reports").filter { $0.hasSuffix(".json") }
        #expect(reports.count == 4, "\(reports)")
        for report in reports {
            let text = try String(contentsOfFile: directory + "/reports/" + report, encoding: .utf8)
            #expect((try? JSONValue.parse(Data(text.utf8)).object?["started_at"]) != nil, "\(report): \(text)")
        }
    }
}
