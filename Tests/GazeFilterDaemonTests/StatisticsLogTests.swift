#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import _TestSupport

/// The log at info level gets a statistics line only when the counts changed, at most once per
/// `--stats-log-interval`: an idle daemon is quiet however short `--stats-interval` is, while
/// `gaze.stats` keeps its period.
@Suite struct StatisticsLogTests {
    func statsLines(_ daemon: DaemonProcess) -> Int { daemon.log.components(separatedBy: "stats: ").count - 1 }

    @Test func anIdleDaemonLogsNoStatisticsAndABusyOneOnlyWhenTheyChange() throws {
        let directory = makeTemporaryDirectory("gfd-stats")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try DaemonProcess(directory: directory, arguments: ["--no-record", "--stats-interval", "0.05", "--stats-log-interval", "0.3"])
        let client = try GazeTestClient(daemon: daemon)
        // gaze.stats keeps coming every period while the log stays quiet.
        #expect(try client.receive(count: 10) { $0 == "gaze.stats" }.count == 10)
        let idle = statsLines(daemon)
        usleep(1_000_000)
        #expect(statsLines(daemon) == idle, "an idle daemon logged statistics: \(daemon.log)")

        try client.publish(stream: "s", json: "{\"t\": 0, \"x\": 100, \"y\": 100}")
        #expect(try client.receive(count: 1) { $0 == "gaze.clean.s" }.count == 1)
        let deadline = Date().addingTimeInterval(10)
        while statsLines(daemon) == idle && Date() < deadline { usleep(20_000) }
        #expect(statsLines(daemon) == idle + 1, "a change was not logged once: \(daemon.log)")
        #expect(daemon.log.contains("stats: 2 streams"), "\(daemon.log)")  // the client's probe and s
        let afterOne = statsLines(daemon)
        usleep(1_000_000)  // 20 statistics periods, three log intervals, nothing new
        #expect(statsLines(daemon) == afterOne, "unchanged statistics were logged again: \(daemon.log)")
        #expect(daemon.terminate()?.status == 0)
    }
}
