/// A settings table as Markdown, for docs/CONFIG.md: one row per config key with its flag, what
/// it accepts, its default and its help, all taken from the table itself so the document cannot
/// drift from the code.
extension SettingsTable {
    /// The Markdown table of the settings. `defaultText` overrides the shown default of keys whose
    /// default depends on where the tool runs (paths found at start-up).
    public func markdown(defaultText: [String: String] = [:]) -> String {
        let defaults = self.defaults()
        func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }
        var lines = ["| key | flag | accepts | default | what it does |", "|---|---|---|---|---|"]
        for setting in settings {
            var flags = setting.flag.map { ["`--\($0)`"] } ?? []
            flags += setting.switches.map { "`--\($0.flag)` (= `\($0.text)`)" }
            let shown = defaultText[setting.key] ?? "`\(setting.value(in: defaults))`"
            let aliases = setting.keyAliases.isEmpty ? "" : " (also `\(setting.keyAliases.joined(separator: "`, `"))`)"
            lines.append("| `\(setting.key)`\(aliases) | \(flags.isEmpty ? "–" : flags.joined(separator: ", ")) | "
                         + "\(cell(setting.requirement)) | \(cell(shown)) | \(cell(setting.help)) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
