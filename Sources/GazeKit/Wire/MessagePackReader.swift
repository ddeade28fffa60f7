/// A cursor over msgpack bytes (https://github.com/msgpack/msgpack/blob/master/spec.md) that
/// reads values in place, without allocating: map and array headers, strings as byte views,
/// numbers of every width as `Double`, booleans, and any value skipped by its length alone.
///
/// Every read checks the remaining length first, so a truncated or hostile payload ends in a
/// `GazeWireError.messagePack` naming the byte offset, never a read past the end; nesting is
/// capped at `maximumDepth`, and the work is bounded by the payload's size (each element
/// skipped consumes at least one byte). Extension types are skipped; `0xc1` (never used) is
/// an error.
public struct MessagePackReader {
    /// Deepest nesting skipped (maps and arrays inside one another).
    public static let maximumDepth = 32

    /// The bytes read.
    public let bytes: UnsafeRawBufferPointer
    /// The offset of the next value.
    public var position = 0

    /// A reader at the start of `bytes`.
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { position == bytes.count }

    @inline(__always) func failure(_ problem: String) -> GazeWireError { .messagePack(offset: position, problem: problem) }

    @inline(__always) func peek() throws(GazeWireError) -> UInt8 {
        guard position < bytes.count else { throw failure("the payload ends before a value") }
        return bytes[position]
    }

    /// Reads a big-endian unsigned integer of `width` bytes after skipping `skip` bytes.
    @inline(__always) mutating func bigEndian(_ width: Int, after skip: Int = 1) throws(GazeWireError) -> UInt64 {
        guard bytes.count - position >= skip + width else { throw failure("the payload ends inside a value") }
        var value: UInt64 = 0
        for i in 0..<width { value = value << 8 | UInt64(bytes[position + skip + i]) }
        position += skip + width
        return value
    }

    /// Moves past `count` payload bytes of a string, binary or extension value.
    @inline(__always) mutating func advance(_ count: UInt64) throws(GazeWireError) {
        guard count <= UInt64(bytes.count - position) else { throw failure("a length runs past the end of the payload") }
        position += Int(count)
    }

    /// The element count of a map header (each element a key and a value).
    public mutating func readMapHeader() throws(GazeWireError) -> Int {
        try readHeader(fixed: 0x80...0x8F, wide16: 0xDE, wide32: 0xDF, expected: "expected a map")
    }

    /// The element count of an array header.
    public mutating func readArrayHeader() throws(GazeWireError) -> Int {
        try readHeader(fixed: 0x90...0x9F, wide16: 0xDC, wide32: 0xDD, expected: "expected an array")
    }

    /// A container header: a fix form holding the count in its low four bits, or a 16- or 32-bit count.
    private mutating func readHeader(fixed: ClosedRange<UInt8>, wide16: UInt8, wide32: UInt8, expected: String) throws(GazeWireError) -> Int {
        let byte = try peek()
        if fixed.contains(byte) { position += 1; return Int(byte & 0x0F) }
        if byte == wide16 { return Int(try bigEndian(2)) }
        if byte == wide32 { return Int(try bigEndian(4)) }
        throw failure(expected)
    }

    /// A string's bytes in place (str, or bin as older Pupil versions sent keys).
    public mutating func readString() throws(GazeWireError) -> UnsafeRawBufferPointer {
        let byte = try peek()
        let length: UInt64
        switch byte {
        case 0xA0...0xBF: position += 1; length = UInt64(byte & 0x1F)
        case 0xD9, 0xC4: length = try bigEndian(1)
        case 0xDA, 0xC5: length = try bigEndian(2)
        case 0xDB, 0xC6: length = try bigEndian(4)
        default: throw failure("expected a string")
        }
        let start = position
        try advance(length)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<position])
    }

    /// Whether the next value is a string (str, or bin).
    public func nextIsString() -> Bool {
        guard position < bytes.count else { return false }
        switch bytes[position] {
        case 0xA0...0xBF, 0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6: return true
        default: return false
        }
    }

    /// Whether the next value is a number (an integer or a float of any width).
    public func nextIsNumber() -> Bool {
        guard position < bytes.count else { return false }
        switch bytes[position] {
        case 0x00...0x7F, 0xE0...0xFF, 0xCA...0xD3: return true
        default: return false
        }
    }

    /// A number of any msgpack width as a Double (64-bit integers beyond 2⁵³ rounded, floats
    /// as they are, NaN and infinities included: the caller decides what is finite enough).
    public mutating func readNumber() throws(GazeWireError) -> Double {
        let byte = try peek()
        switch byte {
        case 0x00...0x7F: position += 1; return Double(byte)
        case 0xE0...0xFF: position += 1; return Double(Int8(bitPattern: byte))
        case 0xCA: return Double(Float(bitPattern: UInt32(try bigEndian(4))))
        case 0xCB: return Double(bitPattern: try bigEndian(8))
        case 0xCC: return Double(try bigEndian(1))
        case 0xCD: return Double(try bigEndian(2))
        case 0xCE: return Double(try bigEndian(4))
        case 0xCF: return Double(try bigEndian(8))
        case 0xD0: return Double(Int8(truncatingIfNeeded: try bigEndian(1)))
        case 0xD1: return Double(Int16(truncatingIfNeeded: try bigEndian(2)))
        case 0xD2: return Double(Int32(truncatingIfNeeded: try bigEndian(4)))
        case 0xD3: return Double(Int64(bitPattern: try bigEndian(8)))
        default: throw failure("expected a number")
        }
    }

    /// A boolean.
    public mutating func readBool() throws(GazeWireError) -> Bool {
        switch try peek() {
        case 0xC2: position += 1; return false
        case 0xC3: position += 1; return true
        default: throw failure("expected true or false")
        }
    }

    /// Moves past one value of any type, nested values included, by lengths alone.
    public mutating func skipValue(depth: Int = 0) throws(GazeWireError) {
        guard depth < Self.maximumDepth else { throw failure("values nested too deeply") }
        let byte = try peek()
        switch byte {
        case 0x00...0x7F, 0xE0...0xFF, 0xC0, 0xC2, 0xC3: position += 1
        case 0x80...0x8F, 0xDE, 0xDF:
            let count = try readMapHeader()
            for _ in 0..<count {
                try skipValue(depth: depth + 1)
                try skipValue(depth: depth + 1)
            }
        case 0x90...0x9F, 0xDC, 0xDD:
            let count = try readArrayHeader()
            for _ in 0..<count { try skipValue(depth: depth + 1) }
        case 0xA0...0xBF, 0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6: _ = try readString()
        case 0xCA...0xD3: _ = try readNumber()
        case 0xC7: try advance(try bigEndian(1) + 1)  // ext 8: length, type, data
        case 0xC8: try advance(try bigEndian(2) + 1)
        case 0xC9: try advance(try bigEndian(4) + 1)
        case 0xD4...0xD8: position += 1; try advance(1 + (UInt64(1) << UInt64(byte - 0xD4)))  // fixext: type, 1–16 bytes
        default: throw failure("0xc1 is not a msgpack value")
        }
    }
}
