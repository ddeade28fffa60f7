#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeKit
import Testing
import _TestSupport

/// Defaults that work where a person stands: the daemon started from any directory finds its
/// default parameters (here: the checkout's, found from the executable), records by default to
/// the user's state directory, says so in `gaze.stats`, and `--no-record` turns recording off.
@Suite struct DaemonDefaultsTests {
    func statistics(_ client: GazeTestClient) throws -> [String: JSONValue] {
        let message = try #require(try client.receive(count: 1) { $0 == "gaze.stats" }.first)
        return try #require(try JSONValue.parse(Data(message.payload)).object)
    }

    @Test func fromAnotherDirectoryWithNoSettingsItFindsItsParametersAndRecords() throws {
        let directory = makeTemporaryDirectory("gfd-defaults")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let elsewhere = directory + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--stats-interval", "0.2"], workingDirectory: elsewhere)
        let client = try GazeTestClient(daemon: daemon)
        #expect(daemon.log.contains("parameters \(packageRoot)/config/params/default.json"), "\(daemon.log)")
        let state = directory + "/state/gazefilter"  // DaemonProcess sets XDG_STATE_HOME to <directory>/state
        #expect(daemon.log.contains("recording to \(state)/recordings"), "\(daemon.log)")
        for i in 0..<5 { try client.publish(stream: "lab", json: "{\"t\": \(Double(i) / 60), \"x\": 500, \"y\": 400}") }
        #expect(try client.receive(count: 5) { $0 == "gaze.clean.lab" }.count == 5)
        let recording = try #require(try statistics(client)["recording"]?.object)
        #expect(recording["enabled"]?.bool == true && recording["directory"]?.string == state + "/recordings", "\(recording)")
        #expect(FileManager.default.fileExists(atPath: state + "/gazefilterd.pid"))
        #expect(daemon.terminate()?.status == 0)
        let days = try FileManager.default.contentsOfDirectory(atPath: state + "/recordings/lab")
        #expect(days.count == 1 && days[0].hasSuffix(".csv"), "\(days)")
        #expect(!FileManager.default.fileExists(atPath: state + "/gazefilterd.pid"), "the pid file outlived the daemon")
    }

    @Test func noRecordTurnsRecordingOffAndStatisticsSaySo() throws {
        let directory = makeTemporaryDirectory("gfd-defaults")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try DaemonProcess(directory: directory, arguments: ["--no-record", "--stats-interval", "0.2"])
        let client = try GazeTestClient(daemon: daemon)
        try client.publish(stream: "lab", json: "{\"t\": 0, \"x\": 500, \"y\": 400}")
        #expect(try client.receive(count: 1) { $0 == "gaze.clean.lab" }.count == 1)
        let recording = try #require(try statistics(client)["recording"]?.object)
        #expect(recording["enabled"]?.bool == false && recording["directory"] == .null, "\(recording)")
        #expect(daemon.log.contains("not recording"), "\(daemon.log)")
        #expect(daemon.terminate()?.status == 0)
        #expect(!FileManager.default.fileExists(atPath: directory + "/state/gazefilter/recordings"))
    }

    /// The shipped config, before install, from another directory: it names no path, so it runs.
    @Test func theShippedConfigRunsBeforeInstall() throws {
        let directory = makeTemporaryDirectory("gfd-defaults")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", packageRoot + "/config/gazefilterd.json"],
                                       workingDirectory: directory)
        #expect(daemon.terminate()?.status == 0, "\(daemon.log)")
    }

    /// The search order, on made-up layouts: a checkout's build directory, an installed prefix.
    @Test func theDefaultLocationsFollowTheDocumentedOrder() throws {
        let root = makeTemporaryDirectory("gfd-layout")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let checkout = root + "/checkout", prefix = root + "/prefix"
        for path in [checkout + "/.build/x86_64-unknown-linux-gnu/debug", checkout + "/config/params",
                     prefix + "/bin", prefix + "/share/gazefilter/params"] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        for file in [checkout + "/Package.swift", checkout + "/config/params/default.json", prefix + "/share/gazefilter/params/default.json"] {
            try "{}".write(toFile: file, atomically: true, encoding: .utf8)
        }
        let fromCheckout = DefaultLocations(environment: ["HOME": "/home/ada"], executable: checkout + "/.build/x86_64-unknown-linux-gnu/debug/gazefilterd")
        #expect(fromCheckout.parameters == checkout + "/config/params/default.json")
        #expect(fromCheckout.stateDirectory == "/home/ada/.local/state/gazefilter")
        #expect(DefaultLocations(environment: ["HOME": "/home/ada", "XDG_STATE_HOME": "/xdg"], executable: checkout + "/.build/x86_64-unknown-linux-gnu/debug/gazefilterd").stateDirectory == "/xdg/gazefilter")

        let installed = DefaultLocations(environment: ["HOME": "/home/ada"], executable: prefix + "/bin/gazefilterd")
        #expect(installed.stateDirectory == "/var/lib/gazefilter")
        #expect(installed.parameterCandidates == ["/etc/gazefilter/params/default.json", prefix + "/share/gazefilter/params/default.json"])
        if !FileManager.default.fileExists(atPath: "/etc/gazefilter/params/default.json") {
            #expect(installed.parameters == prefix + "/share/gazefilter/params/default.json")
        }
        let underSystemd = DefaultLocations(environment: ["STATE_DIRECTORY": "/var/lib/gazefilter:/var/lib/gazefilter/params"],
                                            executable: prefix + "/bin/gazefilterd")
        #expect(underSystemd.stateDirectory == "/var/lib/gazefilter" && underSystemd.pidFile == "/var/lib/gazefilter/gazefilterd.pid")
    }
}
