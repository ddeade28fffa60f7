/// Writes msgpack values into a reused byte buffer, in the smallest encoding of each: what
/// `gazecat pub --as pupil` sends as Pupil does (maps with string keys, float64 numbers).
public struct MessagePackWriter: Sendable {
    /// The bytes written since the last `reset()`.
    public private(set) var bytes: [UInt8] = []

    public init() { bytes.reserveCapacity(512) }

    /// Forgets what was written, keeping the buffer's capacity.
    public mutating func reset() { bytes.removeAll(keepingCapacity: true) }

    /// A map header of `count` key/value pairs.
    public mutating func mapHeader(_ count: Int) { header(count, fix: 0x80, limit: 16, wide16: 0xDE, wide32: 0xDF) }

    /// An array header of `count` elements.
    public mutating func arrayHeader(_ count: Int) { header(count, fix: 0x90, limit: 16, wide16: 0xDC, wide32: 0xDD) }

    /// A UTF-8 string (str family).
    public mutating func string(_ text: String) {
        let utf8 = text.utf8
        if utf8.count < 32 { bytes.append(0xA0 | UInt8(utf8.count)) } else if utf8.count < 256 {
            bytes.append(0xD9); bytes.append(UInt8(utf8.count))
        } else { header(utf8.count, fix: 0, limit: 0, wide16: 0xDA, wide32: 0xDB) }
        bytes.append(contentsOf: utf8)
    }

    /// A float64.
    public mutating func double(_ value: Double) {
        bytes.append(0xCB)
        bigEndian(value.bitPattern, width: 8)
    }

    /// An integer, in the smallest form (fixint, int/uint 8–64).
    public mutating func integer(_ value: Int) {
        switch value {
        case 0...127: bytes.append(UInt8(value))
        case -32 ..< 0: bytes.append(UInt8(bitPattern: Int8(value)))
        default: bytes.append(0xD3); bigEndian(UInt64(bitPattern: Int64(value)), width: 8)
        }
    }

    /// true or false.
    public mutating func bool(_ value: Bool) { bytes.append(value ? 0xC3 : 0xC2) }

    /// nil.
    public mutating func null() { bytes.append(0xC0) }

    private mutating func header(_ count: Int, fix: UInt8, limit: Int, wide16: UInt8, wide32: UInt8) {
        if count < limit { bytes.append(fix | UInt8(count)) } else if count <= 0xFFFF {
            bytes.append(wide16); bigEndian(UInt64(count), width: 2)
        } else { bytes.append(wide32); bigEndian(UInt64(count), width: 4) }
    }

    private mutating func bigEndian(_ value: UInt64, width: Int) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}
