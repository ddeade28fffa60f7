#if canImport(Glibc)
import Glibc
#endif

/// The one reader of a number cell in our CSV files (observation files and recordings), so
/// both accept exactly the same cells: decimal notation with surrounding spaces, tabs and a
/// line's CR tolerated, `nan` (any case) for a value that is not a number, and an empty cell.
/// Infinities and overflows (`1e999`) are refused; a finite but absurd number (`1e308`) is a
/// number: whether it is plausible is the stream model's question (`PlausibleRange`).
public enum CSVNumber {
    /// What a cell holds.
    public enum Cell: Equatable, Sendable {
        /// A finite number.
        case number(Double)
        /// `nan` (a lost value as some tools write it).
        case notANumber
        /// Nothing but spaces.
        case empty
        /// Anything else: not a number, infinite, or longer than 63 characters.
        case invalid
    }

    /// The longest number accepted, in bytes (a double needs at most 24 significant characters).
    public static let maximumLength = 63

    /// Reads one cell; allocates nothing (strtod works on a NUL-terminated stack copy, in the "C" locale the process never changes).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> Cell {
        var lower = 0, upper = bytes.count
        while lower < upper, bytes[lower] == 0x20 || bytes[lower] == 0x09 { lower += 1 }
        while upper > lower, bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09 || bytes[upper - 1] == 0x0D { upper -= 1 }
        let length = upper - lower
        if length == 0 { return .empty }
        guard length <= maximumLength else { return .invalid }
        if length == 3, (bytes[lower] | 0x20) == UInt8(ascii: "n"), (bytes[lower + 1] | 0x20) == UInt8(ascii: "a"),
           (bytes[lower + 2] | 0x20) == UInt8(ascii: "n") {
            return .notANumber
        }
        for i in lower..<upper {
            switch bytes[i] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"):
                continue
            default:
                return .invalid
            }
        }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: maximumLength + 1) { buffer -> Cell in
            for i in 0..<length { buffer[i] = CChar(bitPattern: bytes[lower + i]) }
            buffer[length] = 0
            var end: UnsafeMutablePointer<CChar>?
            let value = strtod(buffer.baseAddress!, &end)
            guard let end, end == buffer.baseAddress! + length, value.isFinite else { return .invalid }
            return .number(value)
        }
    }

    /// `parse` for bytes held in an array slice.
    public static func parse(_ bytes: ArraySlice<UInt8>) -> Cell { bytes.withUnsafeBytes { parse($0) } }

    /// A finite number, or nil for anything else (empty, `nan`, invalid).
    public static func finite(_ bytes: UnsafeRawBufferPointer) -> Double? {
        if case .number(let value) = parse(bytes) { return value }
        return nil
    }
}
