import CommandLineSupport
import Foundation
import GazeFilterConfiguration
import GazeFilterDaemon
import GazeKit
import Testing
import _TestSupport

/// The tracker settings as table entries of the daemon's configuration: a stream's Pupil
/// source beside its model (with Pupil's own loss rule unless it says otherwise), and the
/// subscription prefixes, each checked with one line naming the file or flag.
struct TrackerSettingsTests {
    func load(file text: String?, _ arguments: [String] = []) throws -> DaemonConfiguration {
        let directory = makeTemporaryDirectory("tracker-settings")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var all = arguments
        if let text {
            try text.write(toFile: directory + "/c.json", atomically: true, encoding: .utf8)
            all = ["--config", directory + "/c.json"] + arguments
        }
        return try DaemonConfiguration.load(try #require(try DaemonCommand.spec.parse(all)))
    }

    @Test func aPupilStreamHasItsSourceAndPupilsLossRule() throws {
        let configuration = try load(file: """
            {"streams": {"eyes": {"pupil_remote": "tcp://10.0.0.5:50020"},
                         "screen": {"pupil_remote": "tcp://127.0.0.1:50020", "pupil_topic": "surfaces.monitor",
                                    "width_px": 2560, "height_px": 1440, "loss": "confidence:0.8", "rate_hz": 200},
                         "json": {"rate_hz": 60}}}
            """)
        #expect(configuration.pupilSources["eyes"] == PupilSourceSettings(remote: "tcp://10.0.0.5:50020"))
        #expect(configuration.pupilSources["eyes"]?.host == "10.0.0.5")
        #expect(configuration.model(for: "eyes").loss == .confidenceBelow(0.6))
        #expect(configuration.pupilSources["screen"] == PupilSourceSettings(remote: "tcp://127.0.0.1:50020", topic: "surfaces.monitor",
                                                                             widthPixels: 2560, heightPixels: 1440))
        #expect(configuration.model(for: "screen").loss == .confidenceBelow(0.8) && configuration.model(for: "screen").rateHz == 200)
        #expect(configuration.pupilSources["json"] == nil && configuration.model(for: "json").loss == .negative)
    }

    @Test(arguments: [
        (#"{"streams": {"e": {"pupil_remote": "ipc:///tmp/x"}}}"#, "\"pupil_remote\" must be tcp://HOST:PORT"),
        (#"{"streams": {"e": {"pupil_remote": "tcp://host:0"}}}"#, "\"pupil_remote\" must be tcp://HOST:PORT"),
        (#"{"streams": {"e": {"pupil_topic": "gaze."}}}"#, "\"pupil_topic\" needs \"pupil_remote\""),
        (#"{"streams": {"e": {"pupil_remote": "tcp://h:1", "width_px": 0}}}"#, "\"width_px\" must be a number from 1 to 100000"),
        (#"{"streams": {"e": {"pupil_remote": "tcp://h:1", "pupil_topic": "pupil.0.3d"}}}"#, "\"pupil_topic\" must be a topic prefix starting with gaze. or surfaces."),
        (#"{"subscribe": [".hidden"]}"#, "\"subscribe\" must be comma-separated stream-name prefixes"),
        (#"{"subscribe": "a b"}"#, "\"subscribe\" must be comma-separated stream-name prefixes"),
    ])
    func badTrackerSettingsNameTheKey(file: String, message: String) throws {
        let error = #expect(throws: GazeFileError.self) { try load(file: file) }
        #expect("\(error.map { "\($0)" } ?? "")".contains(message), "\(String(describing: error))")
    }

    @Test func theExampleConfigsLoad() throws {
        let pupil = try DaemonConfiguration.read(file: packageRoot + "/config/examples/pupil-core.json")
        #expect(pupil.pupilSources["pupil-screen"]?.topic == "surfaces.screen" && pupil.pupilSources["pupil-world"]?.widthPixels == 1280)
        let lsl = try DaemonConfiguration.read(file: packageRoot + "/config/examples/lsl-trackers.json")
        #expect(lsl.model(for: "tobii-1").loss == .notANumber && lsl.model(for: "eyelink-1").loss == .sentinel(-32768))
        let eyes = try DaemonConfiguration.read(file: packageRoot + "/config/examples/binocular.json")
        #expect(eyes.model(for: "eyes-json").binocular && eyes.model(for: "pupil-eyes").binocular && eyes.pupilSources["pupil-eyes"] != nil
                && !eyes.model(for: "mono-beside").binocular && eyes.hasBinocularStreams)
        #expect(try ParameterFile.read(packageRoot + "/" + eyes.binocularParametersPath).parameters.observationDimension == 4)
        for side in ["east", "west"] {
            let site = try DaemonConfiguration.read(file: packageRoot + "/config/site/gazefilterd-\(side).json")
            #expect(site.subscriptions == ["lab-\(side)."] && site.inputMode == .connect && site.outputMode == .connect)
        }
    }

    @Test func subscriptionsComeFromTheFileOrTheFlag() throws {
        #expect(try load(file: nil).subscriptions == [""])
        #expect(try load(file: #"{"subscribe": ["lab-east.", "lab-north."]}"#).subscriptions == ["lab-east.", "lab-north."])
        #expect(try load(file: #"{"subscribe": "lab-east."}"#, ["--subscribe", "a,b"]).subscriptions == ["a", "b"])
        #expect(throws: UsageError.self) { try load(file: nil, ["--subscribe", "a/b"]) }
    }
}
