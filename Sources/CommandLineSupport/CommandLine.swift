/// One option of a command, as the help text and the parser see it.
public struct OptionSpec: Sendable {
    /// What the option takes.
    public enum Kind: Sendable, Equatable {
        /// A switch with no value (`--dry-run`).
        case flag
        /// One value (`--steps N`); giving it twice is an error.
        case value(placeholder: String)
        /// A value that may be given several times (`--input A.csv --input B.csv`).
        case repeatedValue(placeholder: String)
    }

    /// The long name without dashes.
    public let name: String
    /// What it takes.
    public let kind: Kind
    /// One line of help.
    public let help: String
    /// Whether the command fails without it.
    public let isRequired: Bool

    /// An option; `required` ones are named in the usage line.
    public init(_ name: String, _ kind: Kind = .flag, required: Bool = false, help: String) {
        self.name = name
        self.kind = kind
        self.isRequired = required
        self.help = help
    }
}

/// A command (or subcommand): its name, one-line summary, options and optional longer notes.
public struct CommandSpec: Sendable {
    /// The full name as typed, e.g. `gazefit filter`.
    public let name: String
    /// One line saying what it does.
    public let summary: String
    /// Its options (`--help` is implied).
    public let options: [OptionSpec]
    /// Extra paragraphs for `--help`.
    public let notes: String

    /// A command specification.
    public init(name: String, summary: String, options: [OptionSpec], notes: String = "") {
        self.name = name
        self.summary = summary
        self.options = options
        self.notes = notes
    }

    /// The `--help` text: usage line, summary, options table, notes.
    public var helpText: String {
        var usage = "usage: \(name)"
        for option in options {
            let token: String
            switch option.kind {
            case .flag: token = "--\(option.name)"
            case .value(let placeholder): token = "--\(option.name) \(placeholder)"
            case .repeatedValue(let placeholder): token = "--\(option.name) \(placeholder) ..."
            }
            usage += option.isRequired ? " \(token)" : " [\(token)]"
        }
        var text = usage + "\n\n" + summary + "\n\noptions:\n"
        let rows = options.map { option -> (String, String) in
            switch option.kind {
            case .flag: ("--\(option.name)", option.help)
            case .value(let p), .repeatedValue(let p): ("--\(option.name) \(p)", option.help)
            }
        } + [("--help", "show this help and exit")]
        let width = rows.map(\.0.count).max() ?? 0
        for (left, right) in rows { text += "  " + left.padding(to: width) + "  " + right + "\n" }
        if !notes.isEmpty { text += "\n" + notes + (notes.hasSuffix("\n") ? "" : "\n") }
        return text
    }

    /// Parses arguments (after the command name). Accepts `--name value` and `--name=value`.
    /// - Returns: the parsed options, or nil when `--help` was asked for.
    /// - Throws: `UsageError` for an unknown option, a missing or empty value (an option's value
    ///   cannot start with `--` unless given as `--name=value`), a single-valued option given
    ///   twice, or a missing required option.
    public func parse(_ arguments: some Sequence<String>) throws(UsageError) -> ParsedOptions? {
        var parsed = ParsedOptions(command: name)
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            if argument == "--help" || argument == "-h" { return nil }
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw UsageError(command: name, "unexpected argument \"\(argument)\"")
            }
            var key = String(argument.dropFirst(2)), inlineValue: String?
            if let equals = key.firstIndex(of: "=") {
                inlineValue = String(key[key.index(after: equals)...])
                key = String(key[..<equals])
            }
            guard let option = options.first(where: { $0.name == key }) else {
                throw UsageError(command: name, "unknown option --\(key)")
            }
            switch option.kind {
            case .flag:
                guard inlineValue == nil else { throw UsageError(command: name, "--\(key) takes no value") }
                parsed.flags.insert(key)
            case .value, .repeatedValue:
                let next = inlineValue == nil ? iterator.next() : nil
                if let next, next.hasPrefix("--") {
                    throw UsageError(command: name, "--\(key) needs a value, found the option \(next)")
                }
                guard let value = inlineValue ?? next, !value.isEmpty else {
                    throw UsageError(command: name, "--\(key) needs a value")
                }
                if case .value = option.kind {
                    guard parsed.values[key] == nil else { throw UsageError(command: name, "--\(key) is given twice") }
                    parsed.values[key] = [value]
                } else {
                    parsed.values[key, default: []].append(value)
                }
            }
        }
        for option in options where option.isRequired && parsed.values[option.name] == nil && !parsed.flags.contains(option.name) {
            throw UsageError(command: name, "missing required option --\(option.name)")
        }
        return parsed
    }
}

/// What the parser found, with typed accessors that report bad values as `UsageError`.
public struct ParsedOptions: Sendable {
    let command: String
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    /// Parsed options of `command` (for tests and programmatic use).
    public init(command: String) { self.command = command }

    /// Whether a flag was given.
    public func flag(_ name: String) -> Bool { flags.contains(name) }
    /// The value of a single-valued option.
    public func value(_ name: String) -> String? { values[name]?.last }
    /// Every value of a repeatable option, in order.
    public func values(_ name: String) -> [String] { values[name] ?? [] }
    /// Sets a value (for programmatic use and config-file defaults).
    public mutating func set(_ name: String, to value: String) { values[name] = [value] }

    /// A required value.
    public func require(_ name: String) throws(UsageError) -> String {
        guard let value = value(name) else { throw UsageError(command: command, "missing required option --\(name)") }
        return value
    }

    /// A value as a whole number in `range`, or nil when absent.
    public func integer(_ name: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(UsageError) -> Int? {
        guard let text = value(name) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw UsageError(command: command, "--\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound), got \"\(text)\"")
        }
        return number
    }

    /// A value as a number in `range`, or nil when absent.
    public func number(_ name: String, in range: ClosedRange<Double>) throws(UsageError) -> Double? {
        try number(name, requirement: "a number in \(range.lowerBound)...\(range.upperBound)") { range.contains($0) }
    }

    /// A value as a finite number satisfying `isValid` (described by `requirement`), or nil when absent.
    public func number(_ name: String, requirement: String = "a finite number", where isValid: (Double) -> Bool = { _ in true }) throws(UsageError) -> Double? {
        guard let text = value(name) else { return nil }
        guard let number = Double(text), number.isFinite, isValid(number) else {
            throw UsageError(command: command, "--\(name) must be \(requirement), got \"\(text)\"")
        }
        return number
    }
}

/// A command line that cannot be run as given: one line naming the command and the problem.
public struct UsageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The command, e.g. `gazefit em`.
    public let command: String
    /// What is wrong.
    public let problem: String

    /// An error about `command`.
    public init(command: String, _ problem: String) {
        self.command = command
        self.problem = problem
    }

    public var description: String { "\(command): \(problem) (see \(command) --help)" }
}

/// A tool with subcommands: dispatches `tool <command> ...` and prints the command list.
public struct CommandGroup: Sendable {
    /// The tool name.
    public let name: String
    /// One line about the tool.
    public let summary: String
    /// Its commands, by their last word.
    public let commands: [(word: String, spec: CommandSpec)]

    /// A group of commands.
    public init(name: String, summary: String, commands: [(word: String, spec: CommandSpec)]) {
        self.name = name
        self.summary = summary
        self.commands = commands
    }

    /// The tool's `--help` text.
    public var helpText: String {
        let width = commands.map(\.word.count).max() ?? 0
        return "usage: \(name) <command> [options]\n\n\(summary)\n\ncommands:\n"
            + commands.map { "  \($0.word.padding(to: width))  \($0.spec.summary)" }.joined(separator: "\n")
            + "\n\nRun '\(name) <command> --help' for a command's options.\n"
    }

    /// Finds the command named by the first argument.
    /// - Returns: nil when the tool's help was asked for.
    public func select(_ arguments: [String]) throws(UsageError) -> (word: String, spec: CommandSpec, rest: ArraySlice<String>)? {
        guard let first = arguments.first else { throw UsageError(command: name, "no command given") }
        if first == "--help" || first == "-h" || first == "help" { return nil }
        guard let command = commands.first(where: { $0.word == first }) else {
            throw UsageError(command: name, "unknown command \"\(first)\"")
        }
        return (command.word, command.spec, arguments.dropFirst())
    }
}

extension String {
    func padding(to width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}

#if canImport(Glibc)
import Glibc
#endif

extension CommandGroup {
    /// Runs one command line of the tool: selects the command, prints help when asked, parses
    /// its options and calls `body`. An error becomes one line on stderr (`<tool>: <error>`),
    /// and exit status 2 for usage errors and those `isBadInput` recognises, 1 for the rest.
    /// A closed standard output (`| head`) is an error like any other, not a SIGPIPE.
    public func run(_ arguments: [String], isBadInput: (any Error) -> Bool,
                    _ body: (_ command: String, _ options: ParsedOptions) throws -> Int32) -> Int32 {
        StandardStream.ignoreBrokenPipes()
        do {
            guard let (word, spec, rest) = try select(arguments) else {
                try StandardStream.output.write(helpText)
                return 0
            }
            guard let options = try spec.parse(rest) else {
                try StandardStream.output.write(spec.helpText)
                return 0
            }
            return try body(word, options)
        } catch {
            // A usage error already starts with the command's name.
            try? StandardStream.error.write(error is UsageError ? "\(error)\n" : "\(name): \(error)\n")
            return error is UsageError || isBadInput(error) ? 2 : 1
        }
    }
}
