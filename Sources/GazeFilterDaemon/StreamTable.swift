import GazeKit

/// Finds a stream's slot from the raw bytes of its name without making a String:
/// open addressing (linear probing) over FNV-1a hashes, the names stored once as bytes.
/// Removed streams free their index for the next new stream, so indices stay below the most
/// streams alive at once.
public struct StreamTable: Sendable {
    private var slots: [Int32]            // -1 empty, else index into `names`
    private var hashes: [UInt64] = []
    private(set) var names: [[UInt8]] = []
    /// Indices of removed streams, reused first.
    private var free: [Int] = []

    /// A table sized for about `capacity` streams (it grows past that).
    public init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
    }

    /// How many streams are known.
    public var count: Int { names.count - free.count }

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
        if (count + 1) * 2 > slots.count { grow() }
        let hash = Self.hash(name)
        let index: Int
        if let reused = free.popLast() {
            index = reused
            names[index] = Array(name)
            hashes[index] = hash
        } else {
            index = names.count
            names.append(Array(name))
            hashes.append(hash)
        }
        place(index, hash: hash)
        return index
    }

    /// Forgets the stream at `index` (which must be present); the index is reused by a later insert.
    public mutating func remove(_ index: Int) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hashes[index]) & mask
        while Int(slots[slot]) != index { slot = (slot + 1) & mask }
        slots[slot] = -1
        // Backward-shift deletion: move later entries of the probe run into the hole when
        // their home slot does not lie cyclically in (hole, entry].
        var next = (slot + 1) & mask
        while slots[next] >= 0 {
            let home = Int(truncatingIfNeeded: hashes[Int(slots[next])]) & mask
            let stays = slot <= next ? (home > slot && home <= next) : (home > slot || home <= next)
            if !stays {
                slots[slot] = slots[next]
                slots[next] = -1
                slot = next
            }
            next = (next + 1) & mask
        }
        names[index] = []
        free.append(index)
    }

    private mutating func place(_ index: Int, hash: UInt64) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] >= 0 { slot = (slot + 1) & mask }
        slots[slot] = Int32(index)
    }

    private mutating func grow() {
        slots = [Int32](repeating: -1, count: slots.count * 2)
        let removed = Set(free)
        for index in names.indices where !removed.contains(index) { place(index, hash: hashes[index]) }
    }
}
