import GazeKit
import Testing

/// Pupil's msgpack messages decoded in place: bytes as Python's msgpack writes them, Pupil's
/// shapes (nested base_data, integer keys, surface lists), and hostile payloads that must
/// end in an error naming the problem, never a crash or a read past the end.
struct PupilGazeDecoderTests {
    static func decode(_ topic: String, _ payload: [UInt8]) throws -> [PupilGazeDatum] {
        var datums: [PupilGazeDatum] = []
        let kind = try Array(topic.utf8).withUnsafeBytes { try PupilGazeDecoder.kind(ofTopic: $0) }
        _ = try payload.withUnsafeBytes { bytes in try PupilGazeDecoder.decode(kind, payload: bytes) { datums.append($0) } }
        return datums
    }

    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            result.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return result
    }

    /// A gaze datum as Pupil writes one: 3D fields, integer-keyed maps, base_data of pupil datums.
    static func gazeDatum(_ w: inout MessagePackWriter, t: Double, x: Double, y: Double, confidence: Double) {
        w.mapHeader(6)
        w.string("topic"); w.string("gaze.3d.01.")
        w.string("eye_centers_3d"); w.mapHeader(2); w.integer(0); w.arrayHeader(3); for v in [1.0, 2, 3] { w.double(v) }
        w.integer(1); w.arrayHeader(3); for v in [4.0, 5, 6] { w.double(v) }
        w.string("base_data"); w.arrayHeader(2)
        for eye in 0..<2 {
            w.mapHeader(4); w.string("topic"); w.string("pupil.\(eye).3d"); w.string("norm_pos"); w.arrayHeader(2); w.double(0.1); w.double(0.2)
            w.string("confidence"); w.double(0.99); w.string("ellipse"); w.mapHeader(1); w.string("axes"); w.arrayHeader(2); w.double(3); w.double(4)
        }
        w.string("norm_pos"); w.arrayHeader(2); w.double(x); w.double(y)
        w.string("confidence"); w.double(confidence)
        w.string("timestamp"); w.double(t)
    }

    @Test func readsBytesAsPythonsMsgpackWritesThem() throws {
        // msgpack.packb({'norm_pos': [0.5, 0.25], 'confidence': 1, 'timestamp': 2.5, 'eye_centers_3d': {0: [1.0]}}, use_bin_type=True)
        let payload = Self.bytes(hex: "84a86e6f726d5f706f7392cb3fe0000000000000cb3fd0000000000000aa636f6e666964656e636501a974696d657374616d70cb4004000000000000ae6579655f63656e746572735f3364810091cb3ff0000000000000")
        #expect(try Self.decode("gaze.2d.0.", payload) == [PupilGazeDatum(timestamp: 2.5, normX: 0.5, normY: 0.25, confidence: 1)])
    }

    @Test func skipsNestedBaseDataAndIntegerKeys() throws {
        var w = MessagePackWriter()
        Self.gazeDatum(&w, t: 1234.5678, x: 0.25, y: 0.75, confidence: 0.93)
        let datums = try Self.decode("gaze.3d.01.", w.bytes)
        #expect(datums == [PupilGazeDatum(timestamp: 1234.5678, normX: 0.25, normY: 0.75, confidence: 0.93)])
        #expect(datums[0].pixels(width: 1920, height: 1080) == (480, 270))  // origin top-left: y flipped
    }

    @Test func surfaceEventsYieldEachGazeDatumInOrder() throws {
        var w = MessagePackWriter()
        w.mapHeader(5)
        w.string("topic"); w.string("surfaces.screen")
        w.string("img_to_surf_trans"); w.arrayHeader(2); for _ in 0..<2 { w.arrayHeader(3); for v in [1.0, 0, 0] { w.double(v) } }
        w.string("gaze_on_surfaces"); w.arrayHeader(3)
        for (i, onSurface) in [true, false, true].enumerated() {
            w.mapHeader(6)
            w.string("topic"); w.string("gaze.3d.1._on_surface")
            w.string("norm_pos"); w.arrayHeader(2); w.double(Double(i) * 0.6); w.double(-0.1)
            w.string("confidence"); w.double(0.5 + Double(i) / 10)
            w.string("on_surf"); w.bool(onSurface)
            w.string("base_data"); w.arrayHeader(2); w.string("gaze.3d.1."); w.double(10 + Double(i))
            w.string("timestamp"); w.double(10 + Double(i))
        }
        w.string("fixations_on_surfaces"); w.arrayHeader(0)
        w.string("timestamp"); w.double(10)
        let datums = try Self.decode("surfaces.screen", w.bytes)
        #expect(datums.map(\.timestamp) == [10, 11, 12])
        #expect(datums.map(\.onSurface) == [true, false, true])
        #expect(datums.map(\.normX) == [0, 0.6, 1.2])
    }

    @Test func everyTruncationIsAnErrorNeverACrash() throws {
        var w = MessagePackWriter()
        Self.gazeDatum(&w, t: 1, x: 0.5, y: 0.5, confidence: 1)
        for length in 0..<w.bytes.count {
            #expect(throws: GazeWireError.self) { try Self.decode("gaze.3d.01.", Array(w.bytes.prefix(length))) }
        }
        #expect(throws: GazeWireError.trailingBytes(offset: w.bytes.count)) { try Self.decode("gaze.3d.01.", w.bytes + [0xC0]) }
    }

    @Test func namesMissingDuplicateAndWrongFields() throws {
        func datum(_ build: (inout MessagePackWriter) -> Void, count: Int) -> [UInt8] {
            var w = MessagePackWriter(); w.mapHeader(count); build(&w); return w.bytes
        }
        let noConfidence = datum({ w in w.string("norm_pos"); w.arrayHeader(2); w.double(0); w.double(0); w.string("timestamp"); w.double(1) }, count: 2)
        #expect(throws: GazeWireError.missingField("confidence")) { try Self.decode("gaze.2d.0.", noConfidence) }
        let twice = datum({ w in for _ in 0..<2 { w.string("timestamp"); w.double(1) } }, count: 2)
        #expect(throws: GazeWireError.duplicateField("timestamp")) { try Self.decode("gaze.2d.0.", twice) }
        let threeNumbers = datum({ w in w.string("norm_pos"); w.arrayHeader(3); for _ in 0..<3 { w.double(0) } }, count: 1)
        #expect(throws: GazeWireError.notAFiniteNumber("norm_pos")) { try Self.decode("gaze.2d.0.", threeNumbers) }
        let infiniteTime = datum({ w in w.string("timestamp"); w.double(.infinity) }, count: 1)
        #expect(throws: GazeWireError.notAFiniteNumber("timestamp")) { try Self.decode("gaze.2d.0.", infiniteTime) }
        #expect(throws: GazeWireError.missingField("gaze_on_surfaces")) { try Self.decode("surfaces.s", datum({ _ in }, count: 0)) }
        #expect(throws: GazeWireError.pupilTopic) { try Self.decode("pupil.0.3d", datum({ _ in }, count: 0)) }
    }

    @Test func hostilePayloadsAreBounded() throws {
        // 40 nested arrays under an ignored key.
        var deep = MessagePackWriter()
        deep.mapHeader(1); deep.string("x"); for _ in 0..<40 { deep.arrayHeader(1) }; deep.null()
        #expect(throws: GazeWireError.self) { try Self.decode("gaze.2d.0.", deep.bytes) }
        // An array claiming 4 billion elements, and a string claiming 4 GB, in a small payload.
        #expect(throws: GazeWireError.self) { try Self.decode("gaze.2d.0.", [0x81, 0xA1, 0x78, 0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0]) }
        #expect(throws: GazeWireError.self) { try Self.decode("gaze.2d.0.", [0x81, 0xA1, 0x78, 0xDB, 0xFF, 0xFF, 0xFF, 0xFF, 0x41]) }
        #expect(throws: GazeWireError.self) { try Self.decode("gaze.2d.0.", [0x81, 0xA1, 0x78, 0xC1]) }
        let huge = [UInt8](repeating: 0xC0, count: PupilGazeDecoder.maximumPayloadBytes + 1)
        #expect(throws: GazeWireError.payloadTooLarge(huge.count)) { try Self.decode("gaze.2d.0.", huge) }
    }
}
