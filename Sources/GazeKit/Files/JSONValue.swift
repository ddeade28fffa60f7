import Foundation
import LinearDynamics

/// A parsed JSON value, for the small configuration-like documents of this project
/// (parameter files, configs, reports). Parsed by Foundation; the daemon's hot path uses
/// its own codec instead.
public enum JSONValue: Equatable, Sendable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses JSON text.
    /// - Throws: `JSONSyntaxError` with the line of the problem where the parser names one.
    public static func parse(_ data: Data) throws(JSONSyntaxError) -> JSONValue {
        do { return try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw JSONSyntaxError.diagnosing(data, decoderError: error)
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// A whole number (a count): written without a fraction, as every whole number is.
    public static func integer(_ value: Int) -> JSONValue { .number(Double(value)) }

    /// The number, if this is one.
    public var number: Double? { if case .number(let value) = self { value } else { nil } }
    /// The string, if this is one.
    public var string: String? { if case .string(let value) = self { value } else { nil } }
    /// The Boolean, if this is one.
    public var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    /// The members, if this is an object.
    public var object: [String: JSONValue]? { if case .object(let value) = self { value } else { nil } }
    /// The elements, if this is an array.
    public var array: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
    /// The numbers, if this is an array of numbers.
    public var numbers: [Double]? {
        guard case .array(let values) = self else { return nil }
        var result: [Double] = []
        for value in values { guard let number = value.number else { return nil }; result.append(number) }
        return result
    }
    /// The rows, if this is an array of arrays of numbers.
    public var numberRows: [[Double]]? {
        guard case .array(let rows) = self else { return nil }
        var result: [[Double]] = []
        for row in rows { guard let numbers = row.numbers else { return nil }; result.append(numbers) }
        return result
    }

    /// A nested-array value for a matrix.
    public init(_ matrix: Matrix) { self = .array(matrix.nestedRows.map { .array($0.map { .number($0) }) }) }
    /// An array value for numbers.
    public init(_ numbers: [Double]) { self = .array(numbers.map { .number($0) }) }
}

/// Builds compact JSON text, numbers in Swift's shortest round-trip form (exact when read back),
/// non-finite numbers as `null`.
public struct JSONTextWriter: Sendable {
    /// The text so far.
    public private(set) var text = ""
    private var needsComma = [false]

    /// An empty writer.
    public init() {}

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { text += "," }
        needsComma[needsComma.count - 1] = true
    }

    /// Opens an object.
    public mutating func beginObject() { separate(); text += "{"; needsComma.append(false) }
    /// Closes an object.
    public mutating func endObject() { needsComma.removeLast(); text += "}" }
    /// Opens an array.
    public mutating func beginArray() { separate(); text += "["; needsComma.append(false) }
    /// Closes an array.
    public mutating func endArray() { needsComma.removeLast(); text += "]" }
    /// Writes an object key; the value follows.
    public mutating func key(_ key: String) {
        separate()
        text += Self.quoted(key) + ":"
        needsComma[needsComma.count - 1] = false
        pendingKey = true
    }
    private var pendingKey = false

    /// Writes a number: a whole one below 2^53 in magnitude as an integer (`3`, not `3.0`, so
    /// counts read as counts), others in shortest round-trip form, a non-finite one as null.
    public mutating func number(_ value: Double) {
        separate()
        if value.rounded() == value && abs(value) < 9_007_199_254_740_992 && !(value == 0 && value.sign == .minus) {
            text += "\(Int64(value))"
        } else {
            text += value.isFinite ? "\(value)" : "null"
        }
    }
    /// Writes an integer.
    public mutating func integer(_ value: Int) { separate(); text += "\(value)" }
    /// Writes null.
    public mutating func null() { separate(); text += "null" }
    /// Writes a string.
    public mutating func string(_ value: String) { separate(); text += Self.quoted(value) }
    /// Writes a Boolean.
    public mutating func bool(_ value: Bool) { separate(); text += value ? "true" : "false" }
    /// Writes an array of numbers.
    public mutating func numbers(_ values: some Sequence<Double>) {
        beginArray(); for value in values { number(value) }; endArray()
    }
    /// Writes an array of strings.
    public mutating func strings(_ values: some Sequence<String>) {
        beginArray(); for value in values { string(value) }; endArray()
    }
    /// Writes a matrix as nested rows.
    public mutating func matrix(_ matrix: Matrix) {
        beginArray(); for row in matrix.nestedRows { numbers(row) }; endArray()
    }
    /// Writes any parsed JSON value.
    public mutating func value(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .number(let x): number(x)
        case .string(let s): string(s)
        case .array(let items): beginArray(); for item in items { self.value(item) }; endArray()
        case .object(let members):
            beginObject()
            for key in members.keys.sorted() { self.key(key); self.value(members[key]!) }
            endObject()
        }
    }

    /// A JSON string literal.
    public static func quoted(_ string: String) -> String {
        var result = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{FEFF}": result += "\\ufeff"  // escaped: some parsers (JSONSerialization on Linux) drop it raw
            case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// JSON text that does not parse: the problem, and its line where the parser tells.
public struct JSONSyntaxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The 1-based line of the problem, if known.
    public let line: Int?
    /// What is wrong, as the parser says it.
    public let problem: String

    public var description: String { line.map { "line \($0): \(problem)" } ?? problem }

    /// Explains why `data` did not decode. JSONDecoder says only "not valid JSON", so the
    /// text is parsed again with JSONSerialization, whose messages name the character offset
    /// (turned into a line here) or the number that does not fit a Double.
    static func diagnosing(_ data: Data, decoderError: any Error) -> JSONSyntaxError {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            let message = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)"
            var line: Int?
            if let range = message.range(of: #"character (\d+)"#, options: .regularExpression),
               let offset = Int(message[range].dropFirst("character ".count)) {
                line = 1 + data.prefix(offset).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            }
            return JSONSyntaxError(line: line, problem: message.hasSuffix(".") ? String(message.dropLast()) : message)
        }
        if case DecodingError.dataCorrupted(let context) = decoderError { return JSONSyntaxError(line: nil, problem: context.debugDescription) }
        return JSONSyntaxError(line: nil, problem: "\(decoderError)")
    }
}
