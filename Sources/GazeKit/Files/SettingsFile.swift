/// A JSON object of settings read from a file (the daemon's and the refit's configs), with
/// typed accessors whose errors name the file and the key: one place for what both configs need.
public struct SettingsFile: Sendable {
    /// The file's path, for messages.
    public let path: String
    /// The settings.
    public let values: [String: JSONValue]
    /// Where these settings sit in the file (`""` at the top, `"streams"."lab1"` nested), for messages.
    public let context: String

    /// The largest settings file read (a config of thousands of streams is far smaller).
    public static let sizeLimit = 1 << 20

    /// Reads a settings file whose keys must all be in `knownKeys`.
    /// - Throws: `GazeFileError` for a missing or unreadable file, bad JSON, a non-object, an unknown key.
    public init(path: String, knownKeys: Set<String>) throws(GazeFileError) {
        let value: JSONValue
        do { value = try JSONValue.parse(try readFile(path, limit: Self.sizeLimit, what: "settings file")) } catch let error as GazeFileError { throw error } catch let error as JSONSyntaxError {
            throw GazeFileError(path: path, line: error.line, "not valid JSON: \(error.problem)")
        } catch {
            throw GazeFileError(path: path, "\(error)")
        }
        guard let object = value.object else { throw GazeFileError(path: path, "expected a JSON object of settings") }
        try self.init(path: path, values: object, context: "", knownKeys: knownKeys)
    }

    init(path: String, values: [String: JSONValue], context: String, knownKeys: Set<String>) throws(GazeFileError) {
        self.path = path
        self.values = values
        self.context = context
        for key in values.keys.sorted() where !knownKeys.contains(key) {
            throw GazeFileError(path: path, "\(context.isEmpty ? "" : context + ": ")unknown setting \"\(key)\" (known: \(knownKeys.sorted().joined(separator: ", ")))")
        }
    }

    /// The nested objects under `key` by name (such as per-stream settings), each checked against `knownKeys`.
    public func objects(_ key: String, knownKeys: Set<String>) throws(GazeFileError) -> [String: SettingsFile] {
        guard let entry = values[key], entry != .null else { return [:] }
        guard let table = entry.object else { throw error(key, "must map names to settings") }
        var result: [String: SettingsFile] = [:]
        for (name, value) in table {
            let where_ = "\"\(key)\".\"\(name)\""
            guard let object = value.object else { throw GazeFileError(path: path, "\(where_) must be an object") }
            result[name] = try SettingsFile(path: path, values: object, context: where_, knownKeys: knownKeys)
        }
        return result
    }

    /// Whether `key` is present as `null` (meaning "none").
    public func isNull(_ key: String) -> Bool { values[key] == .null }

    /// A non-empty string, or nil when absent or null.
    public func string(_ key: String) throws(GazeFileError) -> String? {
        guard let entry = values[key], entry != .null else { return nil }
        guard let text = entry.string, !text.isEmpty else { throw error(key, "must be a non-empty string") }
        return text
    }

    /// A string that must be one of `choices`, or nil when absent or null.
    public func choice(_ key: String, _ choices: [String]) throws(GazeFileError) -> String? {
        guard let text = try string(key) else { return nil }
        guard choices.contains(text) else { throw error(key, "must be " + choices.map { "\"\($0)\"" }.joined(separator: " or ")) }
        return text
    }

    /// A finite number passing `isValid` (described by `requirement`), or nil when absent or null.
    public func number(_ key: String, requirement: String = "a positive number", where isValid: (Double) -> Bool = { $0 > 0 }) throws(GazeFileError) -> Double? {
        guard let entry = values[key], entry != .null else { return nil }
        guard let number = entry.number, number.isFinite, isValid(number) else { throw error(key, "must be \(requirement)") }
        return number
    }

    /// A number in `range`, or nil when absent or null.
    public func number(_ key: String, in range: ClosedRange<Double>) throws(GazeFileError) -> Double? {
        try number(key, requirement: "a number in \(range.lowerBound)...\(range.upperBound)") { range.contains($0) }
    }

    /// A whole number in `range`, or nil when absent or null (never trapping on 1e300 or 2.5).
    public func integer(_ key: String, in range: ClosedRange<Int>) throws(GazeFileError) -> Int? {
        let requirement = "a whole number in \(range.lowerBound)...\(range.upperBound)"
        guard let number = try number(key, requirement: requirement, where: {
            $0.rounded() == $0 && $0 >= Double(range.lowerBound) && $0 <= Double(range.upperBound)
        }) else { return nil }
        return Int(number)
    }

    private func error(_ key: String, _ problem: String) -> GazeFileError {
        GazeFileError(path: path, "\(context.isEmpty ? "" : context + ": ")\"\(key)\" \(problem)")
    }
}
