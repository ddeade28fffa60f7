/// The kind of value a setting holds, and how it is read from a flag's text and from a
/// config file's JSON: one reader per kind, so a flag and its config key accept the same
/// values and refuse others with the same words.
public struct SettingType<Value: Sendable>: Sendable {
    /// The flag's placeholder in `--help` (`SECONDS`).
    public let placeholder: String
    /// What a valid value is, for messages and `--help` (`a number in 0.001...86400`).
    public let requirement: String
    /// The value a flag's text means, or nil when it is not valid.
    public let fromText: @Sendable (String) -> Value?
    /// The value a JSON value means, or nil when it is not valid.
    public let fromJSON: @Sendable (JSONValue) -> Value?
    /// How a value is shown as a default in `--help`.
    public let describe: @Sendable (Value) -> String

    /// A kind of setting value.
    public init(placeholder: String, requirement: String, fromText: @escaping @Sendable (String) -> Value?,
                fromJSON: @escaping @Sendable (JSONValue) -> Value?, describe: @escaping @Sendable (Value) -> String) {
        self.placeholder = placeholder
        self.requirement = requirement
        self.fromText = fromText
        self.fromJSON = fromJSON
        self.describe = describe
    }
}

extension SettingType {
    /// The same kind where JSON `null` (and the flag text `none`) means no value.
    public var orNone: SettingType<Value?> {
        let base = self
        return SettingType<Value?>(
            placeholder: placeholder, requirement: requirement + " (or none)",
            fromText: { text in text == "none" ? .some(nil) : base.fromText(text).map { .some($0) } },
            fromJSON: { json in json == .null ? .some(nil) : base.fromJSON(json).map { .some($0) } },
            describe: { value in value.map(base.describe) ?? "none" })
    }
}

extension SettingType where Value == Double {
    /// A finite number in `range`; `exclusiveLower` refuses the lower bound itself.
    public static func number(in range: ClosedRange<Double>, exclusiveLower: Bool = false, placeholder: String = "X") -> SettingType {
        let valid: @Sendable (Double) -> Bool = { $0.isFinite && range.contains($0) && !(exclusiveLower && $0 == range.lowerBound) }
        let requirement = exclusiveLower ? "a number above \(number: range.lowerBound), up to \(number: range.upperBound)"
            : "a number from \(number: range.lowerBound) to \(number: range.upperBound)"
        return SettingType(
            placeholder: placeholder, requirement: requirement,
            fromText: { Double($0).flatMap { valid($0) ? $0 : nil } },
            fromJSON: { $0.number.flatMap { valid($0) ? $0 : nil } },
            describe: { "\(number: $0)" })
    }
}

extension SettingType where Value == Int {
    /// A whole number in `range` (never trapping on 1e300 or 2.5 in a file).
    public static func integer(in range: ClosedRange<Int>, placeholder: String = "N") -> SettingType {
        SettingType(
            placeholder: placeholder, requirement: "a whole number from \(range.lowerBound) to \(range.upperBound)",
            fromText: { Int($0).flatMap { range.contains($0) ? $0 : nil } },
            fromJSON: { json in
                guard let number = json.number, number.rounded() == number,
                      number >= Double(range.lowerBound), number <= Double(range.upperBound) else { return nil }
                return Int(number)
            },
            describe: { "\($0)" })
    }
}

extension SettingType where Value == String {
    /// A non-empty string (a path, an endpoint, a unit name).
    public static func text(placeholder: String) -> SettingType {
        SettingType(placeholder: placeholder, requirement: "a non-empty string",
                    fromText: { $0.isEmpty ? nil : $0 }, fromJSON: { json in json.string.flatMap { $0.isEmpty ? nil : $0 } },
                    describe: { $0 })
    }
}

extension SettingType where Value == Bool {
    /// true or false: JSON booleans in a file, `true`/`false` as a flag's text (usually set by a
    /// switch flag such as `--allow-insecure-remote`).
    public static var boolean: SettingType {
        SettingType(placeholder: "BOOL", requirement: "true or false",
                    fromText: { $0 == "true" ? true : $0 == "false" ? false : nil }, fromJSON: { $0.bool },
                    describe: { $0 ? "true" : "false" })
    }
}

extension SettingType where Value: Equatable {
    /// One of a fixed set of names (an enum's raw values), in the same spelling in flags and files.
    public static func choice(_ choices: [(name: String, value: Value)], placeholder: String = "NAME") -> SettingType {
        let names = choices.map(\.name)
        let lookup: @Sendable (String) -> Value? = { text in choices.first { $0.name == text }?.value }
        return SettingType(
            placeholder: placeholder, requirement: "one of " + names.joined(separator: ", "),
            fromText: lookup, fromJSON: { $0.string.flatMap(lookup) },
            describe: { value in choices.first { $0.value == value }?.name ?? "\(value)" })
    }
}

extension SettingType {
    /// Values parsed from one textual form, in flags and in files alike (a file may also give
    /// the JSON form `fromJSON` accepts, when given).
    public static func parsed(placeholder: String, requirement: String, parse: @escaping @Sendable (String) -> Value?,
                              fromJSON: (@Sendable (JSONValue) -> Value?)? = nil,
                              describe: @escaping @Sendable (Value) -> String) -> SettingType {
        SettingType(placeholder: placeholder, requirement: requirement, fromText: parse,
                    fromJSON: { json in json.string.flatMap(parse) ?? fromJSON?(json) }, describe: describe)
    }
}

extension SettingType where Value: RawRepresentable & CaseIterable & Equatable, Value.RawValue == String {
    /// One of an enum's cases, by raw value.
    public static var cases: SettingType { .choice(Value.allCases.map { ($0.rawValue, $0) }, placeholder: "NAME") }
}

extension String.StringInterpolation {
    /// A number as settings show it: whole numbers without `.0` (`5`, `0.5`, `86400`).
    mutating func appendInterpolation(number value: Double) {
        if value.rounded() == value && abs(value) < 1e15 { appendLiteral(String(Int64(value))) } else { appendLiteral("\(value)") }
    }
}
