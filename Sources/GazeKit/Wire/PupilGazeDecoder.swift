/// One gaze datum as Pupil Core sends it: normalised coordinates (origin bottom-left, 0…1
/// across the world camera's frame or the surface), the mapper's confidence (0…1) and Pupil
/// time in seconds.
public struct PupilGazeDatum: Sendable, Equatable {
    public var timestamp: Double
    public var normX: Double
    public var normY: Double
    public var confidence: Double
    /// Surface-mapped gaze only: whether the gaze fell inside the surface.
    public var onSurface: Bool?
    /// Which eyes the datum was mapped from (its topic says: `gaze.3d.0.` the right eye,
    /// `gaze.3d.1.` the left, `gaze.3d.01.` both).
    public var eye: PupilEye

    public init(timestamp: Double, normX: Double, normY: Double, confidence: Double, onSurface: Bool? = nil, eye: PupilEye = .both) {
        self.timestamp = timestamp
        self.normX = normX
        self.normY = normY
        self.confidence = confidence
        self.onSurface = onSurface
        self.eye = eye
    }

    /// The gaze in pixels of a `width` × `height` screen (or frame) with its origin top-left,
    /// as the rest of gazefilter counts pixels: Pupil's y grows upwards, so it is flipped.
    public func pixels(width: Double, height: Double) -> (x: Double, y: Double) {
        (normX * width, (1 - normY) * height)
    }
}

/// The eyes a Pupil gaze datum was mapped from. Pupil Core's eye camera 0 films the right
/// eye and camera 1 the left; its gaze mappers publish a monocular datum (`gaze.2d.0.`,
/// `gaze.3d.1.`, …) from one eye's pupil and a binocular one (`gaze.2d.01.`, `gaze.3d.01.`)
/// from both, matched in time, whose `norm_pos` is one gaze point for the pair.
public enum PupilEye: Sendable, Equatable {
    case right, left, both

    /// The eyes named by a gaze topic (or a surface gaze datum's `topic`): the segment after
    /// `gaze.<mapper>.`, `0` the right eye, `1` the left, anything else (`01`, or a topic
    /// without the segment) both. Allocates nothing.
    public static func of(topic: UnsafeRawBufferPointer) -> PupilEye {
        guard PupilGazeDecoder.hasPrefix(topic, "gaze.") else { return .both }
        var index = 5
        while index < topic.count, topic[index] != UInt8(ascii: ".") { index += 1 }  // the mapper (2d, 3d)
        index += 1
        var end = index
        while end < topic.count, topic[end] != UInt8(ascii: ".") { end += 1 }
        guard end == index + 1 else { return .both }
        switch topic[index] {
        case UInt8(ascii: "0"): return .right
        case UInt8(ascii: "1"): return .left
        default: return .both
        }
    }
}

/// Decodes Pupil Core's IPC messages (topic frame, then one msgpack map) into gaze datums,
/// without allocating.
///
/// - `gaze.…` topics (`gaze.2d.0.`, `gaze.3d.01.`, …): one datum; `norm_pos`, `confidence`
///   and `timestamp` are read, everything else (the nested `base_data` of pupil datums, 3D
///   vectors) is skipped by length.
/// - `surfaces.<name>`: the datums of the list `gaze_on_surfaces` (each with `norm_pos`,
///   `confidence`, `on_surf`, `timestamp`), in order; fixations, transforms and the rest are
///   skipped. The message is checked whole before any datum is delivered, so a malformed
///   message delivers nothing.
///
/// A payload over `maximumPayloadBytes` is rejected unread. `timestamp` must be finite;
/// `norm_pos` may hold NaN (a lost sample, masked by every loss rule downstream).
public enum PupilGazeDecoder {
    /// The largest payload decoded (1 MiB): a binocular 3D gaze datum with its pupil datums is
    /// about 2 KB, a surface event at 30 Hz with its gaze about 5 KB.
    public static let maximumPayloadBytes = 1 << 20

    /// What a topic carries.
    public enum TopicKind: Sendable, Equatable {
        /// A gaze datum in world-camera coordinates.
        case gaze
        /// A surface event with a list of surface-mapped gaze datums.
        case surface
    }

    /// The kind of a Pupil topic frame.
    /// - Throws: `.pupilTopic` for topics without gaze (pupil, notify, frame, logging, …).
    public static func kind(ofTopic topic: UnsafeRawBufferPointer) throws(GazeWireError) -> TopicKind {
        if hasPrefix(topic, "gaze.") { return .gaze }
        if hasPrefix(topic, "surfaces.") { return .surface }
        throw .pupilTopic
    }

    /// Calls `body` with each gaze datum of the payload, in order; returns how many there were.
    /// A gaze datum's `eye` is `eye` (the topic's: `PupilEye.of(topic:)`); a surface datum's is
    /// named by its own `topic` key (both eyes without one).
    /// - Throws: `GazeWireError` when the payload is too large, not msgpack of the expected
    ///   shape, or a datum misses a field; then `body` is never called.
    @discardableResult
    public static func decode(_ kind: TopicKind, payload: UnsafeRawBufferPointer, eye: PupilEye = .both,
                              _ body: (PupilGazeDatum) -> Void) throws(GazeWireError) -> Int {
        guard payload.count <= maximumPayloadBytes else { throw .payloadTooLarge(payload.count) }
        switch kind {
        case .gaze:
            var reader = MessagePackReader(payload)
            var datum = try readDatum(&reader, surface: false)
            datum.eye = eye
            guard reader.isAtEnd else { throw .trailingBytes(offset: reader.position) }
            body(datum)
            return 1
        case .surface:
            let count = try surfaceDatums(payload) { _ in }  // check the whole message first
            _ = try surfaceDatums(payload, body)
            return count
        }
    }

    private static func surfaceDatums(_ payload: UnsafeRawBufferPointer, _ body: (PupilGazeDatum) -> Void) throws(GazeWireError) -> Int {
        var reader = MessagePackReader(payload)
        var delivered = -1
        for _ in 0..<(try reader.readMapHeader()) {
            guard let key = try readKey(&reader), equals(key, "gaze_on_surfaces") else { try reader.skipValue(depth: 1); continue }
            guard delivered < 0 else { throw .duplicateField("gaze_on_surfaces") }
            delivered = 0
            for _ in 0..<(try reader.readArrayHeader()) {
                body(try readDatum(&reader, surface: true))
                delivered += 1
            }
        }
        guard reader.isAtEnd else { throw .trailingBytes(offset: reader.position) }
        guard delivered >= 0 else { throw .missingField("gaze_on_surfaces") }
        return delivered
    }

    /// One datum map: `norm_pos` (two numbers), `confidence`, `timestamp`, and for surface
    /// gaze `on_surf`; each at most once, other keys skipped.
    private static func readDatum(_ reader: inout MessagePackReader, surface: Bool) throws(GazeWireError) -> PupilGazeDatum {
        var datum = PupilGazeDatum(timestamp: .nan, normX: .nan, normY: .nan, confidence: .nan)
        var seen: UInt8 = 0
        for _ in 0..<(try reader.readMapHeader()) {
            guard let key = try readKey(&reader) else { try reader.skipValue(depth: 1); continue }
            let bit: UInt8
            if equals(key, "norm_pos") {
                bit = 1
                guard seen & bit == 0 else { throw .duplicateField("norm_pos") }
                guard try reader.readArrayHeader() == 2, reader.nextIsNumber() else { throw .notAFiniteNumber("norm_pos") }
                datum.normX = try reader.readNumber()
                guard reader.nextIsNumber() else { throw .notAFiniteNumber("norm_pos") }
                datum.normY = try reader.readNumber()
            } else if equals(key, "confidence") {
                bit = 2
                guard seen & bit == 0 else { throw .duplicateField("confidence") }
                datum.confidence = try readFinite(&reader, "confidence")
            } else if equals(key, "timestamp") {
                bit = 4
                guard seen & bit == 0 else { throw .duplicateField("timestamp") }
                datum.timestamp = try readFinite(&reader, "timestamp")
            } else if surface && equals(key, "on_surf") {
                bit = 8
                guard seen & bit == 0 else { throw .duplicateField("on_surf") }
                datum.onSurface = try reader.readBool()
            } else if surface && equals(key, "topic") && reader.nextIsString() {
                bit = 16  // the gaze datum it was mapped from, e.g. "gaze.3d.1._on_surface"
                guard seen & bit == 0 else { throw .duplicateField("topic") }
                datum.eye = PupilEye.of(topic: try reader.readString())
            } else {
                try reader.skipValue(depth: 1)
                continue
            }
            seen |= bit
        }
        guard seen & 1 != 0 else { throw .missingField("norm_pos") }
        guard seen & 2 != 0 else { throw .missingField("confidence") }
        guard seen & 4 != 0 else { throw .missingField("timestamp") }
        return datum
    }

    /// A finite number, or `.notAFiniteNumber(field)`.
    private static func readFinite(_ reader: inout MessagePackReader, _ field: String) throws(GazeWireError) -> Double {
        guard reader.nextIsNumber() else { throw .notAFiniteNumber(field) }
        let value = try reader.readNumber()
        guard value.isFinite else { throw .notAFiniteNumber(field) }
        return value
    }

    /// A map key that is a string; any other key (Pupil writes integer keys in nested maps
    /// such as `eye_centers_3d`) is skipped and nil returned, so its value is skipped too.
    private static func readKey(_ reader: inout MessagePackReader) throws(GazeWireError) -> UnsafeRawBufferPointer? {
        if reader.nextIsString() { return try reader.readString() }
        try reader.skipValue(depth: 1)
        return nil
    }

    @inline(__always) static func equals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count == text.utf8CodeUnitCount && bytes.elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always) static func hasPrefix(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        bytes.count >= text.utf8CodeUnitCount
            && bytes.prefix(text.utf8CodeUnitCount).elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
