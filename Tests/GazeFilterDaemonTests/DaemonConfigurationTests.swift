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

    @Test func flagsAndTheFileShareTheirLimits() throws {
        for (flag, value) in [("--rate", "1e20"), ("--reset-after", "1e300"), ("--stats-interval", "0"), ("--max-streams", "0"),
                              ("--high-water-mark", "1e19")] {
            let options = try #require(try DaemonCommand.spec.parse([flag, value]))
            #expect(throws: UsageError.self, "\(flag) \(value)") { try DaemonConfiguration.load(options) }
        }
        let options = try #require(try DaemonCommand.spec.parse(["--high-water-mark", "0", "--rate", "2000", "--max-streams", "1000000"]))
        let configuration = try DaemonConfiguration.load(options)
        #expect(configuration.highWaterMark == 0 && configuration.streamDefaults.rateHz == 2000 && configuration.maximumStreams == 1_000_000)
    }

    @Test func badSettingsNameTheFileAndKey() throws {
        let directory = makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (text, mention) in [
            (#"{"streams": {"a": {"rate": 5}}}"#, #""streams"."a": unknown setting "rate""#),
            (#"{"input_mode": "listen"}"#, #""input_mode" must be "bind" or "connect""#),
            (#"{"reset_after_s": -1}"#, #""reset_after_s" must be a number in 0.001...86400.0"#),
            (#"{"reset_after_s": 1e300}"#, #""reset_after_s" must be a number in 0.001...86400.0"#),
            (#"{"max_streams": 1e19}"#, #""max_streams" must be a whole number in 1...1000000"#),
            (#"{"max_streams": 0.5}"#, #""max_streams" must be a whole number"#),
            (#"{"high_water_mark": 1e19}"#, #""high_water_mark" must be a whole number in 0...100000000"#),
            (#"{"streams": {"a": {"rate_hz": 1e20}}}"#, #""streams"."a": "rate_hz" must be a number in 0.001...100000.0"#),
            (#"{"stats_interval_s": 1e-300}"#, #""stats_interval_s" must be a number in 0.01...86400.0"#),
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
