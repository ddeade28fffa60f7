import CommandLineSupport
import Foundation
import GazeFilterDaemon
import GazeKit
import Testing
import _TestSupport

@Suite struct DaemonConfigurationTests {
    @Test func theShippedConfigLoads() throws {
        var configuration = DaemonConfiguration()
        try configuration.apply(file: packageRoot + "/config/gazefilterd.json")
        #expect(configuration.recordDirectory == "/var/lib/gazefilter/recordings")
        #expect(configuration.settings(for: "example-eyelink-1000").rateHz == 1000)
        #expect(configuration.settings(for: "example-tobii-60").resetAfterSeconds == 2)
        #expect(configuration.settings(for: "anything-else") == configuration.streamDefaults)
    }

    @Test func flagsWinOverTheFile() throws {
        let directory = makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #"{"input": "ipc:///tmp/a", "rate_hz": 60, "log_level": "debug"}"#.write(toFile: directory + "/c.json", atomically: true, encoding: .utf8)
        let options = try #require(try DaemonCommand.spec.parse(["--config", directory + "/c.json", "--rate", "250", "--input-connect"]))
        let configuration = try DaemonConfiguration.load(options)
        #expect(configuration.inputEndpoint == "ipc:///tmp/a" && configuration.inputMode == .connect)
        #expect(configuration.streamDefaults.rateHz == 250 && configuration.logLevel == .debug)
    }

    @Test func badSettingsNameTheFileAndKey() throws {
        let directory = makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (text, mention) in [
            (#"{"streams": {"a": {"rate": 5}}}"#, #""streams"."a": unknown setting "rate""#),
            (#"{"input_mode": "listen"}"#, #""input_mode" must be "bind" or "connect""#),
            (#"{"reset_after_s": -1}"#, #""reset_after_s" must be a positive number"#),
            (#"[1, 2]"#, "expected a JSON object"),
        ] {
            try text.write(toFile: directory + "/c.json", atomically: true, encoding: .utf8)
            var configuration = DaemonConfiguration()
            do {
                try configuration.apply(file: directory + "/c.json")
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.hasPrefix(directory + "/c.json: ") && error.description.contains(mention), "\(error)")
            }
        }
    }
}
