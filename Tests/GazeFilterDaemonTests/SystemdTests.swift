#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
import _TestSupport

/// The daemon's systemd integration: notification protocol and the unit files.
@Suite struct SystemdTests {
    static let analyzer = "/usr/bin/systemd-analyze"

    @Test func watchdogPingsWhileTheLoopRuns() throws {
        let directory = makeTemporaryDirectory("gfd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try DaemonProcess(directory: directory, arguments: ["--params", packageRoot + "/config/params/default.json"],
                                       environment: ["WATCHDOG_USEC": "300000"])
        #expect(daemon.notify.wait(for: "WATCHDOG=1", timeout: 5) != nil)
        #expect(daemon.notify.wait(for: "WATCHDOG=1", timeout: 5) != nil)
        let exit = daemon.terminate()
        #expect(exit?.status == 0)
        #expect(daemon.notify.wait(for: "STOPPING=1", timeout: 5) != nil)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: analyzer)))
    func unitFilesVerify() throws {
        let directory = makeTemporaryDirectory("units")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let units = try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/systemd").filter { $0.hasSuffix(".service") || $0.hasSuffix(".timer") }
        #expect(units.contains("gazefilterd.service"))
        for unit in units {
            // Point ExecStart at the built binaries so verification can check them.
            let text = try String(contentsOfFile: packageRoot + "/systemd/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/", with: buildDirectory + "/")
                .replacingOccurrences(of: "/usr/local/lib/gazefilter/venv/", with: packageRoot + "/.venv-trackers/")  // the LSL relay's
                .replacingOccurrences(of: "/usr/local/lib/gazefilter/", with: packageRoot + "/scripts/")
            try text.write(toFile: directory + "/" + unit, atomically: true, encoding: .utf8)
        }
        for unit in units {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.analyzer)
            // A template is verified as an instance of itself.
            process.arguments = ["verify", directory + "/" + (unit.hasSuffix("@.service") ? unit.replacingOccurrences(of: "@.service", with: "@test.service") : unit)]
            let pipe = Pipe()
            process.standardError = pipe
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            // systemd-analyze exits 0 on unknown keys and bad values, but names the file and line.
            let problems = output.split(separator: "\n").filter { $0.contains(directory) }
            #expect(process.terminationStatus == 0 && problems.isEmpty, "\(unit): \(output)")
        }
    }
}
