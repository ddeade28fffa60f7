import Foundation
import GazeFilterConfiguration
import GazeKit
import GazeRefit
import Testing
import _TestSupport

/// docs/CONFIG.md documents every key of both config files, generated from the settings tables;
/// it must equal what the tables give today (regenerate: `GAZEFILTER_WRITE_CONFIG_DOC=1 swift test
/// --filter ConfigDocumentationTests`).
@Suite struct ConfigDocumentationTests {
    /// Defaults that depend on where the tool runs, described instead of shown.
    static let located = [
        "params": "the first found: see README, \"Where files live\"",
        "params_dir": "`<state>/params` (README, \"Where files live\")",
        "record_dir": "`<state>/recordings` (README, \"Where files live\")",
        "pid_file": "`<state>/gazefilterd.pid` (README, \"Where files live\")",
        "report_dir": "`<state>/reports` (README, \"Where files live\")",
        "default_params": "the daemon's `params` (from `daemon_config`, else found as in README, \"Where files live\")",
        "binocular_params": "`binocular.json` found as `params` is: see README, \"Where files live\"",
        "default_binocular_params": "the daemon's `binocular_params` (from `daemon_config`, else found as in README, \"Where files live\")",
    ]

    static func document() -> String {
        """
        # Configuration keys

        Generated from the settings tables (`DaemonConfiguration.settings`, `StreamModel.settings`,
        `PupilSourceSettings.settings`, `RefitConfiguration.settings`) by `ConfigDocumentationTests`;
        do not edit by hand (regenerate: `GAZEFILTER_WRITE_CONFIG_DOC=1 swift test --filter ConfigDocumentationTests`).
        Each key is also a flag where one is listed, and `--help` shows the same lines. `<state>` is the
        state directory (README, "Where files live"). A JSON `null` means "none" where a key accepts it.

        <!-- snippets: not runnable here (tables only) -->

        ## gazefilterd (`--config`, e.g. config/gazefilterd.json)

        Per-stream keys (the stream model's, from `rate_hz` on) may also be given for one stream under
        `"streams": {"<name>": {...}}`, where they win over the top of the file and the flags.

        \(DaemonConfiguration.settings.markdown(defaultText: located))
        ### A Pupil Core stream (only under `"streams": {"<name>": {...}}`)

        \(PupilSourceSettings.settings.markdown(defaultText: located))
        ## gazefit refit (`--config`, e.g. config/gazefit.json)

        A relative `daemon_config` in the file is read relative to the file's own directory.

        \(RefitConfiguration.settings.markdown(defaultText: located))
        """
    }

    @Test func theConfigDocumentMatchesTheSettingsTables() throws {
        let path = packageRoot + "/docs/CONFIG.md"
        let expected = Self.document()
        if ProcessInfo.processInfo.environment["GAZEFILTER_WRITE_CONFIG_DOC"] == "1" {
            try expected.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let actual = try String(contentsOfFile: path, encoding: .utf8)
        #expect(actual == expected, "docs/CONFIG.md is out of date: regenerate it (see its header)")
        let keys = DaemonConfiguration.settings.settings.map(\.key) + PupilSourceSettings.settings.settings.map(\.key)
            + RefitConfiguration.settings.settings.map(\.key)
        for key in keys {
            #expect(actual.contains("| `\(key)`"), "\(key) is not documented")
        }
    }
}
