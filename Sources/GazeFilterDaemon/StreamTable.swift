import GazeKit

/// Finds a stream's slot from the raw bytes of its name without making a String:
/// open addressing over FNV-1a hashes, the names stored once as bytes.
public struct StreamTable: Sendable {
    private var slots: [Int32]            // -1 empty, else index into `names`
    private var hashes: [UInt64] = []
    private(set) var names: [[UInt8]] = []

    /// A table sized for about `capacity` streams (it grows past that).
    public init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
    }

    /// How many streams are known.
    public var count: Int { names.count }

    @inline(__always) static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }

    /// The index of the stream named by `name`, if known.
    public func find(_ name: UnsafeRawBufferPointer) -> Int? {
        let hash = Self.hash(name)
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = Int(slots[slot])
            if index < 0 { return nil }
            if hashes[index] == hash && names[index].withUnsafeBytes({ $0.elementsEqual(name) }) { return index }
            slot = (slot + 1) & mask
        }
    }

    /// Adds a new name and returns its index (the caller checked it is absent).
    public mutating func insert(_ name: UnsafeRawBufferPointer) -> Int {
        if (names.count + 1) * 2 > slots.count { grow() }
        let index = names.count
        let hash = Self.hash(name)
        names.append(Array(name))
        hashes.append(hash)
        place(index, hash: hash)
        return index
    }

    private mutating func place(_ index: Int, hash: UInt64) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        for index in names.indices { place(index, hash: hashes[index]) }
    }
}
