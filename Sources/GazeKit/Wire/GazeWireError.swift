/// Why a gaze message could not be decoded; each case reads as one line in a log.
public enum GazeWireError: Error, Equatable, Sendable, CustomStringConvertible {
    case wrongFrameCount(Int)
    case topicPrefix
    case streamNameLength(Int)
    case streamNameCharacter
    /// The stream name ends with `.prev`, reserved for parameter backups (`<stream>.prev.json`).
    case streamNameReserved
    case notAnObject
    case syntax(offset: Int, expected: String)
    case trailingBytes(offset: Int)
    case missingField(String)
    case duplicateField(String)
    case notAFiniteNumber(String)
    case tooDeep
    case numberTooLong
    /// The payload is larger than `RawGazeDecoder.maximumPayloadBytes`; it is not parsed.
    case payloadTooLarge(Int)
    /// The daemon already serves its maximum number of streams.
    case streamLimitReached(Int)
    /// A msgpack payload (Pupil) that is truncated, nested too deeply or of the wrong shape.
    case messagePack(offset: Int, problem: String)
    /// A Pupil topic the daemon does not read (only `gaze.…` and `surfaces.…` carry gaze).
    case pupilTopic

    public var description: String {
        switch self {
        case .wrongFrameCount(let count): "expected 2 frames (topic, JSON), got \(count)"
        case .topicPrefix: "topic does not start with gaze.raw."
        case .streamNameLength(let length): "stream name must be 1 to \(GazeTopic.maximumNameLength) bytes, got \(length)"
        case .streamNameCharacter: "stream name must use only [A-Za-z0-9_.:-] and not start with a dot"
        case .streamNameReserved: "stream name must not end with \"\(GazeTopic.reservedSuffix)\" (reserved: <stream>.prev.json is a parameter backup)"
        case .notAnObject: "payload is not a JSON object"
        case .syntax(let offset, let expected): "JSON syntax error at byte \(offset): expected \(expected)"
        case .trailingBytes(let offset): "trailing bytes after the JSON object at byte \(offset)"
        case .missingField(let name): "missing field \"\(name)\""
        case .duplicateField(let name): "duplicate field \"\(name)\""
        case .notAFiniteNumber(let name): "field \"\(name)\" is not a finite number"
        case .tooDeep: "JSON nested too deeply"
        case .numberTooLong: "a number is longer than 64 characters"
        case .payloadTooLarge(let count): "payload of \(count) bytes exceeds \(RawGazeDecoder.maximumPayloadBytes)"
        case .streamLimitReached(let limit): "a new stream would exceed the limit of \(limit) streams (raise --max-streams)"
        case .messagePack(let offset, let problem): "msgpack error at byte \(offset): \(problem)"
        case .pupilTopic: "a Pupil topic without gaze (expected gaze.… or surfaces.…)"
        }
    }
}
