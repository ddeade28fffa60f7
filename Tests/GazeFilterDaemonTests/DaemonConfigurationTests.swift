import CommandLineSupport
import Foundation
import GazeFilterConfiguration
import GazeFilterDaemon
import GazeKit
import Testing
import _TestSupport

@Suite struct DaemonConfigurationTests {
    func load(_ arguments: [String]) throws -> DaemonConfiguration {
        try DaemonConfiguration.load(try #require(try DaemonCommand.spec.parse(arguments)))
    }

    func write(_ text: String, in directory: String) throws -> String {
        let path = directory + "/c.json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theShippedConfigLoads() throws {
        let configuration = try DaemonConfiguration.read(file: packageRoot + "/config/gazefilterd.json")
        // No paths in the shipped config: the defaults (DefaultLocations) work before and after install.
        let defaults = DefaultLocations.current
        #expect(configuration.recordDirectory == defaults.recordDirectory && configuration.parametersDirectory == defaults.parametersDirectory)
        #expect(configuration.pidFile == defaults.pidFile && configuration.parametersPath == defaults.parameters)
        #expect(configuration.model(for: "example-eyelink-1000").rateHz == 1000)
        #expect(configuration.model(for: "example-eyelink-1000").loss == .sentinel(-32768))
        #expect(configuration.model(for: "example-tobii-60").resetAfterSeconds == 2)
        #expect(configuration.model(for: "example-tobii-60").loss == .notANumber)
        #expect(configuration.model(for: "anything-else") == configuration.streamDefaults)
        #expect(configuration.streamDefaults.start == .diffuse && configuration.streamDefaults.loss == .negative)
    }

    @Test func flagsWinOverTheFileAndAStreamsOwnEntryWinsOverBoth() throws {
        let directory = makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try write(#"{"input": "ipc:///tmp/a", "rate_hz": 60, "log_level": "debug", "streams": {"s": {"loss": "zero"}, "r": {"rate_hz": 90}}}"#,
                             in: directory)
        let configuration = try load(["--config", path, "--rate", "250", "--loss", "nan", "--input-connect"])
        #expect(configuration.inputEndpoint == "ipc:///tmp/a" && configuration.inputMode == .connect)
        #expect(configuration.streamDefaults.rateHz == 250 && configuration.logLevel == .debug)
        #expect(configuration.model(for: "s") == StreamModel(rateHz: 250, loss: .zero))
        #expect(configuration.model(for: "r") == StreamModel(rateHz: 90, loss: .notANumber))
        #expect(configuration.model(for: "other") == StreamModel(rateHz: 250, loss: .notANumber))
    }

    @Test func everyStreamSettingReadsTheSameFromFlagsAndFiles() throws {
        let directory = makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let expected = StreamModel(rateHz: 1000, resetAfterSeconds: 0.25, loss: .confidenceBelow(0.6),
                                   plausible: PlausibleRange(lower: -1, upper: 2), start: .parameters)
        let fromFlags = try load(["--rate", "1000", "--reset-after", "0.25", "--loss", "confidence:0.6", "--plausible", "-1,2", "--start", "params"])
        #expect(fromFlags.streamDefaults == expected)
        let path = try write(#"{"streams": {"a": {"rate_hz": 1000, "reset_after_s": 0.25, "loss": "confidence:0.6", "plausible": [-1, 2], "start": "params"}}}"#,
                             in: directory)
        #expect(try DaemonConfiguration.read(file: path).model(for: "a") == expected)
        // The older key and flag `init` still read as `start`; `none` switches the range check off.
        let older = try write(#"{"init": "first-sample", "plausible": null, "loss": "sentinel:-32768"}"#, in: directory)
        let model = try DaemonConfiguration.read(file: older).streamDefaults
        #expect(model.start == .firstSample && model.plausible == nil && model.loss == .sentinel(-32768))
        #expect(try load(["--init", "params", "--plausible", "none"]).streamDefaults == StreamModel(plausible: nil, start: .parameters))
    }

    @Test func flagsAndTheFileShareTheirLimits() throws {
        for (flag, value) in [("--rate", "1e20"), ("--reset-after", "1e300"), ("--stats-interval", "0"), ("--max-streams", "0"),
                              ("--high-water-mark", "1e19"), ("--loss", "negativ"), ("--loss", "confidence:2"), ("--loss", "sentinel:inf"),
                              ("--plausible", "5,1"), ("--plausible", "0,1e300"), ("--start", "sometime"), ("--log-level", "loud")] {
            #expect(throws: UsageError.self, "\(flag) \(value)") { try load([flag, value]) }
        }
        let configuration = try load(["--high-water-mark", "0", "--rate", "2000", "--max-streams", "1000000"])
        #expect(configuration.highWaterMark == 0 && configuration.streamDefaults.rateHz == 2000 && configuration.maximumStreams == 1_000_000)
    }

    @Test func badSettingsNameTheFileAndKey() throws {
        let directory = makeTemporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (text, mention) in [
            (#"{"streams": {"a": {"rate": 5}}}"#, #""streams"."a": unknown setting "rate""#),
            (#"{"streams": {"../a": {"rate_hz": 5}}}"#, #""streams": "../a" is not a stream name"#),
            (#"{"input_mode": "listen"}"#, #""input_mode" must be one of bind, connect"#),
            (#"{"reset_after_s": -1}"#, #""reset_after_s" must be a number from 0.001 to 86400"#),
            (#"{"reset_after_s": 1e300}"#, #""reset_after_s" must be a number from 0.001 to 86400"#),
            (#"{"max_streams": 1e19}"#, #""max_streams" must be a whole number from 1 to 1000000"#),
            (#"{"max_streams": 0.5}"#, #""max_streams" must be a whole number"#),
            (#"{"high_water_mark": 1e19}"#, #""high_water_mark" must be a whole number from 0 to 100000000"#),
            (#"{"streams": {"a": {"rate_hz": 1e20}}}"#, #""streams"."a": "rate_hz" must be a number from 0.001 to 100000"#),
            (#"{"streams": {"a": {"plausible": [3]}}}"#, #""streams"."a": "plausible" must be LOW,HIGH"#),
            (#"{"loss": 5}"#, #""loss" must be negative, nan, zero"#),
            (#"{"stats_interval_s": 1e-300}"#, #""stats_interval_s" must be a number from 0.01 to 86400"#),
            (#"[1, 2]"#, "expected a JSON object"),
        ] {
            let path = try write(text, in: directory)
            do {
                _ = try DaemonConfiguration.read(file: path)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.hasPrefix(path + ": ") && error.description.contains(mention), "\(error)")
            }
        }
    }

    /// The table is the one description: every setting has its key in the file, its flag (if
    /// any) and a `--help` line naming the key, its default and its range.
    @Test func everySettingIsDescribedOnceInTheTable() throws {
        let help = DaemonCommand.spec.helpText
        let keys = DaemonConfiguration.settings.settings.map(\.key)
        #expect(Set(keys).count == keys.count)
        for setting in DaemonConfiguration.settings.settings {
            #expect(help.contains("[\(setting.key)"), "\(setting.key)")
            if let flag = setting.flag {
                let line = help.split(separator: "\n").first { $0.hasPrefix("  --\(flag) ") }
                #expect(line?.contains("default ") == true && line?.contains("[\(setting.key)]") == true, "\(flag): \(line ?? "")")
            }
        }
        for key in StreamModel.settings.settings.map(\.key) { #expect(keys.contains(key)) }
    }
}
