/// Topics of the wire contract (docs/PROTOCOL.md): `gaze.raw.<stream>` in,
/// `gaze.clean.<stream>` out, `gaze.stats` for statistics.
public enum GazeTopic {
    /// Prefix of raw sample topics.
    public static let rawPrefix: [UInt8] = Array("gaze.raw.".utf8)
    /// Prefix of cleaned estimate topics.
    public static let cleanPrefix: [UInt8] = Array("gaze.clean.".utf8)
    /// The statistics topic.
    public static let statistics = "gaze.stats"
    /// Longest stream name accepted, in bytes.
    public static let maximumNameLength = 64

    /// The suffix no stream name may end with: `<stream>.prev.json` is the backup of stream
    /// `<stream>`'s parameters, so a stream `a.prev` would read `a`'s old parameters.
    public static let reservedSuffix = ".prev"

    /// The stream name's bytes inside a raw topic frame, validated: 1 to 64 bytes of
    /// `[A-Za-z0-9_.:-]`, not starting with a dot (names become directory names for recordings)
    /// and not ending with `.prev` (reserved for parameter backups).
    public static func streamName(inRawTopic topic: UnsafeRawBufferPointer) throws(GazeWireError) -> UnsafeRawBufferPointer {
        let name = try unvalidatedStreamName(inRawTopic: topic)
        try validate(name: name)
        return name
    }

    /// The bytes after `gaze.raw.`, not yet checked against the name rule: for a lookup among
    /// names that already passed it (the daemon validates only names it has not seen).
    public static func unvalidatedStreamName(inRawTopic topic: UnsafeRawBufferPointer) throws(GazeWireError) -> UnsafeRawBufferPointer {
        let prefix = rawPrefix.count
        guard topic.count >= prefix, rawPrefix.withUnsafeBytes({ $0.elementsEqual(topic.prefix(prefix)) }) else {
            throw .topicPrefix
        }
        return UnsafeRawBufferPointer(rebasing: topic[prefix...])
    }

    /// Checks a stream name against the rule of `streamName(inRawTopic:)`.
    public static func validate(name: UnsafeRawBufferPointer) throws(GazeWireError) {
        guard (1...maximumNameLength).contains(name.count) else { throw .streamNameLength(name.count) }
        guard name[0] != UInt8(ascii: ".") else { throw .streamNameCharacter }
        for byte in name where !isNameCharacter(byte) { throw .streamNameCharacter }
        let suffix = reservedSuffix.utf8
        if name.count >= suffix.count, name.suffix(suffix.count).elementsEqual(suffix) { throw .streamNameReserved }
    }

    /// Whether `byte` may appear in a stream name: `[A-Za-z0-9_.:-]`.
    @inline(__always)
    public static func isNameCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// Why `name` is not a valid stream name, or nil when it is.
    public static func problem(name: String) -> GazeWireError? {
        Array(name.utf8).withUnsafeBytes { bytes -> GazeWireError? in
            do throws(GazeWireError) { try validate(name: bytes) } catch { return error }
            return nil
        }
    }

    /// Whether `name` is a valid stream name.
    public static func isValid(name: String) -> Bool { problem(name: name) == nil }

    /// `gaze.raw.<stream>` as bytes.
    public static func raw(_ stream: String) -> [UInt8] { rawPrefix + Array(stream.utf8) }
    /// `gaze.clean.<stream>` as bytes (built once per stream).
    public static func clean(_ stream: String) -> [UInt8] { cleanPrefix + Array(stream.utf8) }
}
