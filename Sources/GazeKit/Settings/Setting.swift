import CommandLineSupport

/// One setting, described once: its config-file key, its flag, the kind of value it takes
/// (which fixes the accepted range), its help line, and where it is stored. Config-file
/// parsing, flag parsing, range checks and `--help` are all derived from this description.
public struct Setting<Root>: Sendable {
    /// The config-file key (`reset_after_s`).
    public let key: String
    /// The flag without dashes (`reset-after`), or nil for a file-only setting.
    public let flag: String?
    /// Flags without a value that stand for one value of this setting
    /// (`--input-connect` ≡ `"input_mode": "connect"`).
    public let switches: [(flag: String, text: String, help: String)]
    /// Older keys still read as this one (a renamed key keeps working).
    public let keyAliases: [String]
    /// Older flags still read as this one.
    public let flagAliases: [String]
    /// One line of help, without the default or the key (both are added).
    public let help: String
    /// The flag's placeholder and what a valid value is.
    public let placeholder: String, requirement: String
    /// Applies a flag's text; false when the text is not a valid value.
    let applyText: @Sendable (inout Root, String) -> Bool
    /// Applies a config file's JSON value; false when it is not a valid value.
    let applyJSON: @Sendable (inout Root, JSONValue) -> Bool
    /// The value in `root`, as `--help` shows a default.
    let show: @Sendable (Root) -> String

    /// A setting stored at `path` of the configuration, of kind `type`.
    public init<Value>(_ key: String, flag: String?, _ type: SettingType<Value>, at path: any WritableKeyPath<Root, Value> & Sendable,
                       help: String, switches: [(flag: String, text: String, help: String)] = [],
                       keyAliases: [String] = [], flagAliases: [String] = []) {
        self.init(key: key, flag: flag, switches: switches, keyAliases: keyAliases, flagAliases: flagAliases, help: help,
                  placeholder: type.placeholder, requirement: type.requirement,
                  applyText: { root, text in
                      guard let value = type.fromText(text) else { return false }
                      root[keyPath: path] = value
                      return true
                  },
                  applyJSON: { root, json in
                      guard let value = type.fromJSON(json) else { return false }
                      root[keyPath: path] = value
                      return true
                  },
                  show: { root in type.describe(root[keyPath: path]) })
    }

    private init(key: String, flag: String?, switches: [(flag: String, text: String, help: String)], keyAliases: [String],
                 flagAliases: [String], help: String, placeholder: String, requirement: String,
                 applyText: @escaping @Sendable (inout Root, String) -> Bool,
                 applyJSON: @escaping @Sendable (inout Root, JSONValue) -> Bool, show: @escaping @Sendable (Root) -> String) {
        self.key = key
        self.flag = flag
        self.switches = switches
        self.keyAliases = keyAliases
        self.flagAliases = flagAliases
        self.help = help
        self.placeholder = placeholder
        self.requirement = requirement
        self.applyText = applyText
        self.applyJSON = applyJSON
        self.show = show
    }

    /// This setting stored inside a larger configuration (the per-stream settings inside the
    /// daemon's, as its defaults for every stream).
    public func lifted<Outer>(to path: any WritableKeyPath<Outer, Root> & Sendable) -> Setting<Outer> {
        let applyText = self.applyText, applyJSON = self.applyJSON, show = self.show
        return Setting<Outer>(
            key: key, flag: flag, switches: switches, keyAliases: keyAliases, flagAliases: flagAliases, help: help,
            placeholder: placeholder, requirement: requirement,
            applyText: { outer, text in applyText(&outer[keyPath: path], text) },
            applyJSON: { outer, json in applyJSON(&outer[keyPath: path], json) },
            show: { outer in show(outer[keyPath: path]) })
    }

    /// The same setting with another flag (or none), for a tool that spells it differently.
    public func withFlag(_ flag: String?) -> Setting {
        Setting(key: key, flag: flag, switches: switches, keyAliases: keyAliases, flagAliases: flagAliases, help: help,
                placeholder: placeholder, requirement: requirement, applyText: applyText, applyJSON: applyJSON, show: show)
    }

    /// The same setting with one more switch flag (`--no-mask-negative` ≡ `--loss none`).
    public func withSwitch(_ flag: String, text: String, help: String) -> Setting {
        Setting(key: key, flag: self.flag, switches: switches + [(flag, text, help)], keyAliases: keyAliases, flagAliases: flagAliases,
                help: self.help, placeholder: placeholder, requirement: requirement, applyText: applyText, applyJSON: applyJSON, show: show)
    }

    /// Applies a value given as text (a flag's); false when it is not valid.
    public func apply(text: String, to root: inout Root) -> Bool { applyText(&root, text) }
    /// Applies a value given as JSON (a config file's); false when it is not valid.
    public func apply(json: JSONValue, to root: inout Root) -> Bool { applyJSON(&root, json) }
    /// The value `root` holds, as text.
    public func value(in root: Root) -> String { show(root) }
}
