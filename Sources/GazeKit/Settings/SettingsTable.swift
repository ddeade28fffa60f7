import CommandLineSupport

/// The settings of one tool (or of one stream), each described once. From the table come the
/// tool's flags and their `--help` lines (with defaults and config keys), the config-file keys
/// it knows, and the reading of both with one range check per setting.
/// Adding a setting is adding one `Setting` to the table.
public struct SettingsTable<Root>: Sendable {
    /// The settings, in `--help` order.
    public var settings: [Setting<Root>]
    /// The configuration whose values `--help` shows as defaults.
    public let defaults: @Sendable () -> Root

    /// A table over `settings`; `defaults` makes the configuration holding the defaults.
    public init(_ settings: [Setting<Root>], defaults: @escaping @Sendable () -> Root) {
        self.settings = settings
        self.defaults = defaults
    }

    /// Every config-file key (aliases included).
    public var keys: Set<String> { Set(settings.flatMap { [$0.key] + $0.keyAliases }) }

    /// The flags of the settings that have one, each with its help line:
    /// `what it does (default 5; a number from 0.001 to 86400) [reset_after_s]`.
    public var options: [OptionSpec] {
        let defaults = self.defaults()
        var options: [OptionSpec] = []
        for setting in settings {
            if let flag = setting.flag {
                let range = setting.requirement.hasPrefix("a non-empty string") ? "" : "; \(setting.requirement)"
                let detail = "default \(setting.value(in: defaults))\(range)"
                options.append(OptionSpec(flag, .value(placeholder: setting.placeholder), help: "\(setting.help) (\(detail)) [\(setting.key)]"))
                for alias in setting.flagAliases {
                    options.append(OptionSpec(alias, .value(placeholder: setting.placeholder), help: "the same as --\(flag)"))
                }
            }
            for switchFlag in setting.switches {
                options.append(OptionSpec(switchFlag.flag, help: "\(switchFlag.help) [\(setting.key): \(switchFlag.text)]"))
            }
        }
        return options
    }

    /// Applies the settings a config file (or one nested object of it) gives.
    /// - Throws: `GazeFileError` naming the file, where in it, the key and what it must be.
    public func apply(_ file: SettingsFile, to root: inout Root) throws(GazeFileError) {
        for setting in settings {
            for key in [setting.key] + setting.keyAliases {
                guard let value = file.values[key] else { continue }
                guard setting.apply(json: value, to: &root) else {
                    throw GazeFileError(path: file.path, "\(file.context.isEmpty ? "" : file.context + ": ")\"\(key)\" must be \(setting.requirement)")
                }
            }
        }
    }

    /// Applies the flags given (over whatever a file said).
    /// - Throws: `UsageError` naming the flag, what it must be and what was given.
    public func apply(_ options: ParsedOptions, to root: inout Root, command: String) throws(UsageError) {
        for setting in settings {
            for switchFlag in setting.switches where options.flag(switchFlag.flag) {
                _ = setting.apply(text: switchFlag.text, to: &root)
            }
            guard let flag = setting.flag else { continue }
            for name in [flag] + setting.flagAliases {
                guard let text = options.value(name) else { continue }
                guard setting.apply(text: text, to: &root) else {
                    throw UsageError(command: command, "--\(name) must be \(setting.requirement), got \"\(text)\"")
                }
            }
        }
    }

    /// These settings inside a larger configuration (see `Setting.lifted(to:)`).
    public func lifted<Outer>(to path: any WritableKeyPath<Outer, Root> & Sendable, defaults: @escaping @Sendable () -> Outer) -> SettingsTable<Outer> {
        SettingsTable<Outer>(settings.map { $0.lifted(to: path) }, defaults: defaults)
    }

    /// The setting stored under `key`.
    public func setting(key: String) -> Setting<Root>? { settings.first { $0.key == key || $0.keyAliases.contains(key) } }
}
