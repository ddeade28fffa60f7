/// How a stream's tracker marks a lost sample (a blink, a lost pupil), per stream: each
/// tracker has its own convention. The daemon, the refit's recording reader and `gazefit`
/// all ask this one rule. A value that is not a number (NaN, an empty cell) is lost under
/// every rule, since it cannot be observed.
///
/// Written the same in config files and flags: `negative`, `nan`, `zero`, `sentinel:-32768`,
/// `confidence:0.6`, `none`.
public enum LossRule: Sendable, Equatable, CustomStringConvertible {
    /// A negative coordinate is lost (the default; gazefilter's wire convention).
    case negative
    /// Only NaN is lost (Tobii's LSL app); negative and zero coordinates are gaze.
    case notANumber
    /// A coordinate of exactly 0 is lost (EyeLink's absent eye).
    case zero
    /// A coordinate equal to this value is lost (EyeLink's MISSING_DATA, −32768).
    case sentinel(Double)
    /// A sample whose `confidence` is below this is lost (Pupil Core: below about 0.6 is not
    /// useful, 0 is no detection). A sample that carries no confidence is lost too: the rule
    /// cannot vouch for it.
    case confidenceBelow(Double)
    /// Nothing is lost by its value (centred or normalised coordinates, simulations).
    case none

    /// The rule as written in settings.
    public var description: String {
        switch self {
        case .negative: "negative"
        case .notANumber: "nan"
        case .zero: "zero"
        case .sentinel(let value): "sentinel:\(value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)")"
        case .confidenceBelow(let threshold): "confidence:\(threshold)"
        case .none: "none"
        }
    }

    /// What the settings accept, for messages and `--help`.
    public static let requirement = "negative, nan, zero, sentinel:VALUE, confidence:THRESHOLD (0 to 1) or none"

    /// Parses the settings form; nil when it is not one.
    public init?(_ text: String) {
        switch text {
        case "negative": self = .negative
        case "nan": self = .notANumber
        case "zero": self = .zero
        case "none": self = .none
        default:
            guard let colon = text.firstIndex(of: ":"), let value = Double(text[text.index(after: colon)...]), value.isFinite else { return nil }
            switch text[..<colon] {
            case "sentinel": self = .sentinel(value)
            case "confidence" where (0...1).contains(value): self = .confidenceBelow(value)
            default: return nil
            }
        }
    }

    /// Whether a sample with these coordinates (and `confidence`, NaN when the input carries
    /// none) is lost. Allocates nothing.
    @inline(__always)
    public func isLost(_ coordinates: UnsafeBufferPointer<Double>, confidence: Double) -> Bool {
        for value in coordinates where value.isNaN { return true }
        switch self {
        case .negative:
            for value in coordinates where value < 0 { return true }
        case .zero:
            for value in coordinates where value == 0 { return true }
        case .sentinel(let sentinel):
            for value in coordinates where value == sentinel { return true }
        case .confidenceBelow(let threshold):
            return !(confidence >= threshold)  // NaN (no confidence) is lost
        case .notANumber, .none:
            break
        }
        return false
    }

    /// Whether the rule needs a confidence value with each sample.
    public var needsConfidence: Bool { if case .confidenceBelow = self { true } else { false } }
}
