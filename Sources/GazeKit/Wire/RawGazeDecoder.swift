#if canImport(Glibc)
import Glibc
#endif

/// One raw sample as it arrives: time in seconds, gaze in pixels (NaN where the payload
/// said `null` or `NaN`), and the tracker's confidence (NaN when the payload has none).
/// Which samples are lost is the stream's `LossRule`'s question, not the decoder's.
///
/// A binocular sample (`isBinocular`) carries both eyes: `x`, `y` and `confidence` are then
/// the left eye's (also named `lx`, `ly`), `rx`, `ry` and `rightConfidence` the right eye's.
public struct RawGazeSample: Sendable {
    public var t: Double
    public var x: Double
    public var y: Double
    public var confidence: Double
    /// The right eye's coordinates and confidence (binocular samples only; NaN otherwise).
    public var rx = Double.nan, ry = Double.nan, rightConfidence = Double.nan
    /// Whether the sample carries both eyes.
    public var isBinocular = false

    /// A monocular sample.
    public init(t: Double, x: Double, y: Double, confidence: Double = .nan) {
        self.t = t
        self.x = x
        self.y = y
        self.confidence = confidence
    }

    /// A binocular sample: each eye's coordinates and confidence (NaN for none).
    public init(t: Double, lx: Double, ly: Double, rx: Double, ry: Double, leftConfidence: Double = .nan, rightConfidence: Double = .nan) {
        self.init(t: t, x: lx, y: ly, confidence: leftConfidence)
        self.rx = rx
        self.ry = ry
        self.rightConfidence = rightConfidence
        isBinocular = true
    }

    /// The left eye's coordinates (binocular samples).
    public var lx: Double { x }
    public var ly: Double { y }
}

extension RawGazeSample: Equatable {
    /// Equal when every field is, NaN equal to NaN (a lost coordinate, an absent confidence).
    public static func == (a: RawGazeSample, b: RawGazeSample) -> Bool {
        func same(_ u: Double, _ v: Double) -> Bool { u == v || (u.isNaN && v.isNaN) }
        return same(a.t, b.t) && same(a.x, b.x) && same(a.y, b.y) && same(a.confidence, b.confidence)
            && a.isBinocular == b.isBinocular && same(a.rx, b.rx) && same(a.ry, b.ry) && same(a.rightConfidence, b.rightConfidence)
    }
}

/// Decodes the flat JSON object `{"t": …, "x": …, "y": …}` without allocating.
///
/// Full JSON syntax at the object level: any whitespace, keys in any order, unknown keys
/// skipped whatever their value (nested up to 32 levels), escaped keys compared after
/// unescaping. t, x and y must each appear once as numbers of at most 64 characters, t finite;
/// x or y may also be `null` or `NaN` (what JavaScript and Python write for a lost value),
/// read as NaN, which every loss rule counts as lost. An optional `confidence` (a finite
/// number, at most once) is read for the confidence loss rule.
///
/// Binocular streams (`decode(_:binocular: true)`) send `{"t", "lx", "ly", "rx", "ry"}`
/// instead, each eye's coordinates under the same rules as x and y (`null` or `NaN` where the
/// eye is lost), and optionally `left_confidence` and `right_confidence` (each eye's; where
/// one is absent, `confidence` stands for both eyes). There `x` and `y` are ignored like any
/// other key, and a monocular stream ignores the binocular keys.
/// Their numbers follow JSON's grammar and are converted by the C library's correctly rounded
/// `strtod` (the process never changes LC_NUMERIC from "C"), so results equal Foundation's to
/// the bit.
///
/// The values of other keys are checked by syntax only and never converted: their numbers
/// follow JSON's grammar at any length (an 80-digit id is fine), and their strings are not
/// checked for valid UTF-8 — invalid UTF-8 in an ignored value is accepted, so a sample is
/// never lost to a bad byte in something the daemon does not read (t, x and y are numbers,
/// which are ASCII by grammar). A payload over `maximumPayloadBytes` is rejected before any
/// parsing, which bounds the work per message. A leading byte-order mark is rejected (not a
/// JSON value; RFC 8259 forbids sending one), and so is anything after the object but
/// whitespace, a trailing NUL included.
public enum RawGazeDecoder {
    /// The largest payload decoded, in bytes (64 KiB); a real sample is well under 100.
    public static let maximumPayloadBytes = 65_536

    /// Decodes one payload frame.
    /// - Throws: `GazeWireError` naming the problem: `.payloadTooLarge` before any parsing,
    ///   then syntax, missing, duplicate or non-finite fields.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(GazeWireError) -> RawGazeSample {
        try decode(bytes, binocular: false)
    }

    /// Decodes one payload frame of a monocular (`x`, `y`) or binocular (`lx`, `ly`, `rx`, `ry`) stream.
    /// - Throws: `GazeWireError` naming the problem: `.payloadTooLarge` before any parsing,
    ///   then syntax, missing, duplicate or non-finite fields.
    public static func decode(_ bytes: UnsafeRawBufferPointer, binocular: Bool) throws(GazeWireError) -> RawGazeSample {
        guard bytes.count <= maximumPayloadBytes else { throw .payloadTooLarge(bytes.count) }
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else { throw .notAnObject }
        reader.position += 1
        // t, then the coordinates (x, y or lx, ly, rx, ry), then the confidences (shared, left, right).
        var values = (Double.nan, Double.nan, Double.nan, Double.nan, Double.nan, Double.nan, Double.nan, Double.nan)
        var seen: UInt16 = 0
        reader.skipWhitespace()
        if reader.peek() == UInt8(ascii: "}") {
            reader.position += 1
        } else {
            while true {
                reader.skipWhitespace()
                let field = try reader.readKey()
                reader.skipWhitespace()
                try reader.expect(UInt8(ascii: ":"), "':'")
                reader.skipWhitespace()
                if let slot = field.slot(binocular: binocular) {
                    let bit: UInt16 = 1 << slot
                    guard seen & bit == 0 else { throw .duplicateField(field.name) }
                    seen |= bit
                    var value = try reader.readNumberIfPresent()
                    if value == nil, field.isCoordinate, reader.skipNotANumber() { value = .nan }
                    guard let value, value.isFinite || (value.isNaN && field.isCoordinate) else { throw .notAFiniteNumber(field.name) }
                    withUnsafeMutableBytes(of: &values) { $0.storeBytes(of: value, toByteOffset: slot * 8, as: Double.self) }
                } else {
                    try reader.skipValue(depth: 0)
                }
                reader.skipWhitespace()
                guard let next = reader.peek() else { throw .syntax(offset: reader.position, expected: "',' or '}'") }
                reader.position += 1
                if next == UInt8(ascii: "}") { break }
                guard next == UInt8(ascii: ",") else { throw .syntax(offset: reader.position - 1, expected: "',' or '}'") }
            }
        }
        reader.skipWhitespace()
        guard reader.position == bytes.count else { throw .trailingBytes(offset: reader.position) }
        guard seen & 1 != 0 else { throw .missingField("t") }
        guard binocular else {
            guard seen & 2 != 0 else { throw .missingField("x") }
            guard seen & 4 != 0 else { throw .missingField("y") }
            return RawGazeSample(t: values.0, x: values.1, y: values.2, confidence: values.5)
        }
        guard seen & 2 != 0 else { throw .missingField("lx") }
        guard seen & 4 != 0 else { throw .missingField("ly") }
        guard seen & 8 != 0 else { throw .missingField("rx") }
        guard seen & 16 != 0 else { throw .missingField("ry") }
        let shared = values.5
        return RawGazeSample(t: values.0, lx: values.1, ly: values.2, rx: values.3, ry: values.4,
                             leftConfidence: seen & (1 << 6) != 0 ? values.6 : shared, rightConfidence: seen & (1 << 7) != 0 ? values.7 : shared)
    }

    /// The keys the decoder reads; every other key is skipped.
    enum Field: Equatable {
        case t, x, y, lx, ly, rx, ry, confidence, leftConfidence, rightConfidence, other
        var name: String {
            switch self {
            case .t: "t"
            case .x: "x"
            case .y: "y"
            case .lx: "lx"
            case .ly: "ly"
            case .rx: "rx"
            case .ry: "ry"
            case .confidence: "confidence"
            case .leftConfidence: "left_confidence"
            case .rightConfidence: "right_confidence"
            case .other: ""
            }
        }
        /// Whether the value is a coordinate (which may be `null` or `NaN`, a lost value).
        var isCoordinate: Bool { self != .t && self != .confidence && self != .leftConfidence && self != .rightConfidence }
        /// Where the value goes (t 0, coordinates 1…4, confidences 5…7), or nil when this kind of
        /// stream does not read the key.
        func slot(binocular: Bool) -> Int? {
            switch self {
            case .t: 0
            case .x: binocular ? nil : 1
            case .y: binocular ? nil : 2
            case .lx: binocular ? 1 : nil
            case .ly: binocular ? 2 : nil
            case .rx: binocular ? 3 : nil
            case .ry: binocular ? 4 : nil
            case .confidence: 5
            case .leftConfidence: binocular ? 6 : nil
            case .rightConfidence: binocular ? 7 : nil
            case .other: nil
            }
        }
    }

    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position = 0

        @inline(__always) func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        @inline(__always) mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws(GazeWireError) {
            guard peek() == byte else { throw .syntax(offset: position, expected: what) }
            position += 1
        }

        /// Reads a quoted key and says which field it names (after unescaping), comparing as it
        /// reads: no key is stored, so a long key costs no memory.
        mutating func readKey() throws(GazeWireError) -> Field {
            try expect(UInt8(ascii: "\""), "a quoted key")
            var length = 0
            var candidates: UInt16 = (1 << Self.keys.count) - 1  // the known keys this one still spells a prefix of
            while true {
                guard let byte = peek() else { throw .syntax(offset: position, expected: "closing '\"'") }
                position += 1
                var scalar = UInt32(byte)
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 { throw .syntax(offset: position - 1, expected: "no control characters in strings") }
                if byte == UInt8(ascii: "\\") { scalar = try readEscape() }
                if candidates != 0 {
                    for (index, key) in Self.keys.enumerated() where candidates & (1 << index) != 0 {
                        if length >= key.bytes.count || scalar != UInt32(key.bytes[length]) { candidates &= ~(1 << index) }
                    }
                }
                length += 1
            }
            for (index, key) in Self.keys.enumerated() where candidates & (1 << index) != 0 && key.bytes.count == length { return key.field }
            return .other
        }

        /// The keys read, spelled out.
        static let keys: [(bytes: [UInt8], field: Field)] = [Field.t, .x, .y, .lx, .ly, .rx, .ry, .confidence, .leftConfidence, .rightConfidence]
            .map { (Array($0.name.utf8), $0) }

        /// Moves past `null` or `NaN` (a lost coordinate); false, without moving, when neither is there.
        mutating func skipNotANumber() -> Bool { skip("null") || skip("NaN") }

        /// Moves past `word` when it is next; false, without moving, otherwise.
        mutating func skip(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { return false }
            for i in 0..<count where bytes[position + i] != word.utf8Start[i] { return false }
            position += count
            return true
        }

        /// Reads the escape after a backslash; returns the code unit (surrogates as is).
        mutating func readEscape() throws(GazeWireError) -> UInt32 {
            guard let byte = peek() else { throw .syntax(offset: position, expected: "an escape") }
            position += 1
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return UInt32(byte)
            case UInt8(ascii: "b"): return 0x08
            case UInt8(ascii: "f"): return 0x0C
            case UInt8(ascii: "n"): return 0x0A
            case UInt8(ascii: "r"): return 0x0D
            case UInt8(ascii: "t"): return 0x09
            case UInt8(ascii: "u"):
                var value: UInt32 = 0
                for _ in 0..<4 {
                    guard let digit = peek() else { throw .syntax(offset: position, expected: "four hex digits") }
                    position += 1
                    switch digit {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(digit - UInt8(ascii: "0"))
                    case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(digit - UInt8(ascii: "a") + 10)
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(digit - UInt8(ascii: "A") + 10)
                    default: throw .syntax(offset: position - 1, expected: "a hex digit")
                    }
                }
                return value
            default:
                throw .syntax(offset: position - 1, expected: "a valid escape")
            }
        }

        /// A JSON number at the current position (at most 64 characters), converted; nil when
        /// the value is not a number (the value is then left unread and the caller reports the field).
        mutating func readNumberIfPresent() throws(GazeWireError) -> Double? {
            let start = position
            guard try scanNumber() else { return nil }
            let length = position - start
            guard length <= 64 else { throw .numberTooLong }
            // NUL-terminated copy on the stack for strtod.
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { buffer -> Double in
                for i in 0..<length { buffer[i] = CChar(bitPattern: bytes[start + i]) }
                buffer[length] = 0
                return strtod(buffer.baseAddress!, nil)
            }
        }

        /// Moves past a JSON number at the current position, checking its grammar only (any
        /// length, no conversion). Returns false, without moving, when the value does not
        /// start like a number.
        mutating func scanNumber() throws(GazeWireError) -> Bool {
            let start = position
            if peek() == UInt8(ascii: "-") { position += 1 }
            guard let first = peek(), isDigit(first) else { position = start; return false }
            position += 1
            if first != UInt8(ascii: "0") { while let d = peek(), isDigit(d) { position += 1 } }
            if peek() == UInt8(ascii: ".") {
                position += 1
                guard let d = peek(), isDigit(d) else { throw .syntax(offset: position, expected: "a digit after '.'") }
                while let d = peek(), isDigit(d) { position += 1 }
            }
            if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                position += 1
                if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { position += 1 }
                guard let d = peek(), isDigit(d) else { throw .syntax(offset: position, expected: "a digit in the exponent") }
                while let d = peek(), isDigit(d) { position += 1 }
            }
            return true
        }

        @inline(__always) func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        /// Skips any JSON value by syntax alone (numbers are not converted, strings not decoded).
        mutating func skipValue(depth: Int) throws(GazeWireError) {
            guard depth < 32 else { throw .tooDeep }
            guard let byte = peek() else { throw .syntax(offset: position, expected: "a value") }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                while true {
                    guard let c = peek() else { throw .syntax(offset: position, expected: "closing '\"'") }
                    position += 1
                    if c == UInt8(ascii: "\"") { return }
                    if c < 0x20 { throw .syntax(offset: position - 1, expected: "no control characters in strings") }
                    if c == UInt8(ascii: "\\") { _ = try readEscape() }
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                position += 1
                skipWhitespace()
                if peek() == close { position += 1; return }
                while true {
                    skipWhitespace()
                    if close == UInt8(ascii: "}") {
                        _ = try readKey()
                        skipWhitespace()
                        try expect(UInt8(ascii: ":"), "':'")
                        skipWhitespace()
                    }
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard let next = peek() else { throw .syntax(offset: position, expected: "',' or a closing bracket") }
                    position += 1
                    if next == close { return }
                    guard next == UInt8(ascii: ",") else { throw .syntax(offset: position - 1, expected: "',' or a closing bracket") }
                }
            case UInt8(ascii: "t"): try literal("true")
            case UInt8(ascii: "f"): try literal("false")
            case UInt8(ascii: "n"): try literal("null")
            default:
                guard try scanNumber() else { throw .syntax(offset: position, expected: "a value") }
            }
        }

        mutating func literal(_ word: StaticString) throws(GazeWireError) {
            let count = word.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw .syntax(offset: position, expected: "\(word)") }
            for i in 0..<count where bytes[position + i] != word.utf8Start[i] { throw .syntax(offset: position, expected: "\(word)") }
            position += count
        }
    }
}
