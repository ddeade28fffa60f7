/// A JSON object of settings read from a file (the daemon's and the refit's configs), its keys
/// checked against the known ones; a `SettingsTable` reads the values, naming the file and key.
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

    private func error(_ key: String, _ problem: String) -> GazeFileError {
        GazeFileError(path: path, "\(context.isEmpty ? "" : context + ": ")\"\(key)\" \(problem)")
    }
}
