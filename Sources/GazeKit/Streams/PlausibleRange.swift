import Foundation

/// The coordinates a stream can plausibly report, per stream. A finite but absurd value
/// (`1e308`, a tracker's garbage) outside it counts as lost and as `implausible`, in the
/// daemon and in the refit's reader alike, so one wild value can never poison a stream's
/// filter or its refit.
///
/// Written `[LOW, HIGH]` in config files and `LOW,HIGH` in flags; it applies to every coordinate.
public struct PlausibleRange: Sendable, Equatable, CustomStringConvertible {
    /// The lowest and highest plausible coordinate.
    public var lower: Double, upper: Double

    /// A range; `lower` < `upper`, both finite.
    public init(lower: Double, upper: Double) {
        precondition(lower.isFinite && upper.isFinite && lower < upper, "a plausible range needs finite bounds, lower below upper")
        self.lower = lower
        self.upper = upper
    }

    /// The default: generous screen bounds, ±20,000 px, room for several screens side by side
    /// and for gaze off the screen, yet far from where a filter's numbers lose precision.
    public static let screen = PlausibleRange(lower: -20_000, upper: 20_000)

    /// The largest magnitude a bound may have: beyond it squares of differences overflow.
    public static let limit = 1e12

    /// Whether every coordinate lies inside the range.
    @inline(__always)
    public func contains(_ coordinates: UnsafeBufferPointer<Double>) -> Bool {
        for value in coordinates where !(value >= lower && value <= upper) { return false }
        return true
    }

    public var description: String { "\(Self.format(lower)),\(Self.format(upper))" }

    /// What the settings accept, for messages and `--help`.
    public static let requirement = "LOW,HIGH (or [LOW, HIGH] in a file): finite, LOW below HIGH, within ±1e12"

    /// Parses `LOW,HIGH`; nil when it is not a valid range.
    public init?(_ text: String) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let bounds = parts.map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard bounds.count == 2, let lower = bounds[0], let upper = bounds[1] else { return nil }
        self.init(checking: lower, upper)
    }

    /// A range from JSON `[LOW, HIGH]`; nil when it is not a valid range.
    public init?(json: JSONValue) {
        guard let bounds = json.numbers, bounds.count == 2 else { return nil }
        self.init(checking: bounds[0], bounds[1])
    }

    private init?(checking lower: Double, _ upper: Double) {
        guard lower.isFinite, upper.isFinite, lower < upper, abs(lower) <= Self.limit, abs(upper) <= Self.limit else { return nil }
        self.init(lower: lower, upper: upper)
    }

    private static func format(_ value: Double) -> String { value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)" }
}
