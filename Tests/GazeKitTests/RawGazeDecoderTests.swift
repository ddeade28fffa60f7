import Foundation
import GazeKit
import LinearDynamics
import Testing

/// The hot-path decoder against Foundation's JSON parser on generated messages.
@Suite struct RawGazeDecoderTests {
    static func decode(_ text: String) throws(GazeWireError) -> RawGazeSample {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { raw in
            Result<RawGazeSample, GazeWireError> { () throws(GazeWireError) in try RawGazeDecoder.decode(raw) }
        }
        return try result.get()
    }

    /// A random JSON number text in varied spellings.
    static func numberText(_ generator: inout SeededGenerator) -> String {
        switch generator.next() % 7 {
        case 0: return String(Int64(bitPattern: generator.next()) % 100_000)
        case 1: return "\((generator.nextUniform() - 0.3) * 2000)"
        case 2: return String(format: "%.3e", (generator.nextUniform() - 0.5) * 1e6)
        case 3: return "\(Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF))"
        case 4: return ["5e-324", "1.7976931348623157e308", "-0.0", "0", "1E+2", "2.5E-3"][Int(generator.next() % 6)]
        case 5: return String(format: "%.17g", generator.nextStandardNormal() * 300)
        default: return "\(Float(generator.nextUniform() * 1024))"
        }
    }

    @Test func agreesWithFoundationOnGeneratedMessages() throws {
        var generator = SeededGenerator(seed: 2026)
        let spaces = ["", " ", "\n", "\t ", "\r\n  "]
        for _ in 0..<3000 {
            var fields = [("t", Self.numberText(&generator)), ("x", Self.numberText(&generator)), ("y", Self.numberText(&generator))]
            if generator.next() % 3 == 0 { fields.append(("pupil", Self.numberText(&generator))) }
            if generator.next() % 4 == 0 { fields.append(("meta", "{\"a\": [1, \"x\\\"y\", {\"b\": null}], \"c\": true}")) }
            if generator.next() % 5 == 0 { fields.append(("label", "\"fix\\u0061tion\"")) }
            fields.shuffle(using: &generator)
            let space = { spaces[Int(generator.next() % UInt64(spaces.count))] }
            let text = space() + "{" + fields.map { space() + "\"\($0.0)\"" + space() + ":" + space() + $0.1 + space() }.joined(separator: ",") + "}" + space()
            // JSONDecoder, not JSONSerialization: on Linux the latter misrounds about one
            // 17-digit number in seven, while JSONDecoder (like strtod) is correctly rounded.
            let foundation = try JSONDecoder().decode(Flat.self, from: Data(text.utf8))
            let ours = try Self.decode(text)
            for (key, value, expected) in [("t", ours.t, foundation.t), ("x", ours.x, foundation.x), ("y", ours.y, foundation.y)] {
                #expect(value.bitPattern == expected.bitPattern, "\(text): \(key) \(value) vs \(expected)")
            }
        }
    }

    struct Flat: Decodable { var t, x, y: Double }

    @Test func escapedKeysCount() throws {
        #expect(try Self.decode(#"{"\u0074": 1, "\u0078": 2, "y": 3}"#) == RawGazeSample(t: 1, x: 2, y: 3))
    }

    /// A lost coordinate as JavaScript (`null`) or Python (`NaN`) writes it is read as NaN (every
    /// loss rule counts it as lost); `confidence` is read when present, under any escaping of its key.
    @Test func lostCoordinatesAndConfidenceAreRead() throws {
        let lost = try Self.decode(#"{"t": 1, "x": null, "y": NaN}"#)
        #expect(lost.t == 1 && lost.x.isNaN && lost.y.isNaN && lost.confidence.isNaN)
        let withConfidence = try Self.decode(#"{"confidenc": 5, "t": 2, "x": 3, "y": 4, "c\u006fnfidence": 0.25, "confidences": 9}"#)
        #expect(withConfidence == RawGazeSample(t: 2, x: 3, y: 4, confidence: 0.25))
    }

    @Test func malformedMessagesAreRejectedWithTheRightReason() {
        let cases: [(String, GazeWireError)] = [
            ("[1, 2]", .notAnObject),
            ("", .notAnObject),
            (#"{"t": 1, "x": 2}"#, .missingField("y")),
            (#"{"t": 1, "x": 2, "y": 3, "x": 4}"#, .duplicateField("x")),
            (#"{"t": 1, "x": 1e999, "y": 3}"#, .notAFiniteNumber("x")),
            (#"{"t": 1, "x": "2", "y": 3}"#, .notAFiniteNumber("x")),
            (#"{"t": null, "x": 1, "y": 3}"#, .notAFiniteNumber("t")),
            (#"{"t": NaN, "x": 1, "y": 3}"#, .notAFiniteNumber("t")),
            (#"{"t": 1, "x": nan, "y": 3}"#, .notAFiniteNumber("x")),
            (#"{"t": 1, "x": 1, "y": 3, "confidence": null}"#, .notAFiniteNumber("confidence")),
            (#"{"t": 1, "x": 1, "y": 3, "confidence": 1, "confidence": 1}"#, .duplicateField("confidence")),
            (#"{"t": 1, "x": 2, "y": 3} x"#, .trailingBytes(offset: 25)),
            (#"{"t": 1, "x": 2, "y": 3"#, .syntax(offset: 23, expected: "',' or '}'")),
            (#"{"t": 01, "x": 2, "y": 3}"#, .syntax(offset: 7, expected: "',' or '}'")),
            (#"{"t": 1., "x": 2, "y": 3}"#, .syntax(offset: 8, expected: "a digit after '.'")),
            (#"{"t": +1, "x": 2, "y": 3}"#, .notAFiniteNumber("t")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text)") { try Self.decode(text) }
        }
        let deep = "{\"a\": " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + ", \"t\": 1, \"x\": 1, \"y\": 1}"
        #expect(throws: GazeWireError.tooDeep) { try Self.decode(deep) }
    }

    static func decode(bytes: [UInt8]) throws(GazeWireError) -> RawGazeSample {
        let result = bytes.withUnsafeBytes { raw in
            Result<RawGazeSample, GazeWireError> { () throws(GazeWireError) in try RawGazeDecoder.decode(raw) }
        }
        return try result.get()
    }

    /// Extra keys are ignored whatever their numbers' length; t, x and y keep theirs.
    @Test func longNumbersInExtraKeysAreAccepted() throws {
        let id = String(repeating: "1234567890", count: 8)
        #expect(id.count == 80)
        #expect(try Self.decode(#"{"id": \#(id), "t": 1, "x": 2, "y": 3}"#) == RawGazeSample(t: 1, x: 2, y: 3))
        let long = "-" + id + "." + id + "e-" + id
        let nested = #"{"t": 0.5, "meta": {"ids": [\#(id), \#(long), {"deep": [\#(long)]}], "n": -0.\#(id)E+\#(id)}, "x": 2, "y": 3}"#
        #expect(try Self.decode(nested) == RawGazeSample(t: 0.5, x: 2, y: 3))
        // Grammar is still checked in skipped numbers, at any length.
        #expect(throws: GazeWireError.syntax(offset: 88, expected: "a digit after '.'")) { try Self.decode(#"{"id": \#(id)., "t": 1, "x": 2, "y": 3}"#) }
        #expect(throws: GazeWireError.syntax(offset: 7, expected: "a value")) { try Self.decode(#"{"id": +1, "t": 1, "x": 2, "y": 3}"#) }
        // t, x and y keep their 64-character limit.
        #expect(throws: GazeWireError.numberTooLong) { try Self.decode(#"{"t": \#(id), "x": 2, "y": 3}"#) }
    }

    @Test func aPayloadOverTheLimitIsRejectedBeforeParsing() throws {
        // Valid JSON but for its size: a sample padded with a long extra string.
        let padding = String(repeating: "a", count: 70_000 - #"{"t": 1, "x": 2, "y": 3, "pad": ""}"#.utf8.count)
        let text = #"{"t": 1, "x": 2, "y": 3, "pad": "\#(padding)"}"#
        #expect(text.utf8.count == 70_000)
        #expect(throws: GazeWireError.payloadTooLarge(70_000)) { try Self.decode(text) }
        #expect(GazeWireError.payloadTooLarge(70_000).description == "payload of 70000 bytes exceeds 65536")
        // Not parsed at all: invalid JSON of that size gets the same error.
        #expect(throws: GazeWireError.payloadTooLarge(70_000)) { try Self.decode(bytes: [UInt8](repeating: 0xFF, count: 70_000)) }
        // Exactly at the limit is decoded.
        let fits = String(repeating: "a", count: RawGazeDecoder.maximumPayloadBytes - #"{"t": 1, "x": 2, "y": 3, "pad": ""}"#.utf8.count)
        #expect(try Self.decode(#"{"t": 1, "x": 2, "y": 3, "pad": "\#(fits)"}"#) == RawGazeSample(t: 1, x: 2, y: 3))
    }

    /// Invalid UTF-8 inside an ignored value is accepted (documented on `RawGazeDecoder`).
    @Test func invalidUTF8InAnExtraStringIsAccepted() throws {
        var bytes = Array(#"{"t": 1, "label": "ab"#.utf8)
        bytes += [0xFF, 0xC3, 0x28, 0xED, 0xA0, 0x80]  // not UTF-8: a stray byte, a bad pair, a surrogate
        bytes += Array(#"", "x": 2, "y": 3}"#.utf8)
        #expect(String(validating: bytes, as: UTF8.self) == nil)
        #expect(try Self.decode(bytes: bytes) == RawGazeSample(t: 1, x: 2, y: 3))
    }

    @Test func aByteOrderMarkAndATrailingNulAreRejected() {
        #expect(throws: GazeWireError.notAnObject) { try Self.decode(bytes: [0xEF, 0xBB, 0xBF] + Array(#"{"t": 1, "x": 2, "y": 3}"#.utf8)) }
        #expect(throws: GazeWireError.trailingBytes(offset: 24)) { try Self.decode(bytes: Array(#"{"t": 1, "x": 2, "y": 3}"#.utf8) + [0]) }
        #expect(throws: GazeWireError.trailingBytes(offset: 25)) { try Self.decode(bytes: Array(#"{"t": 1, "x": 2, "y": 3} "#.utf8) + [0]) }
    }

    @Test func neverCrashesOnArbitraryBytes() {
        var generator = SeededGenerator(seed: 7)
        let valid = Array(#"{"t": 0.5, "x": 512.25, "y": -1, "extra": [1, {"k": "v\n"}]}"#.utf8)
        for _ in 0..<20_000 {
            var bytes = valid
            switch generator.next() % 3 {
            case 0: bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count))))
            case 1: for _ in 0..<3 { bytes[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next()) }
            default: bytes = (0..<Int(generator.next() % 64)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            }
            _ = bytes.withUnsafeBytes { try? RawGazeDecoder.decode($0) }
        }
    }

    @Test func topicsAreValidated() throws {
        func name(_ topic: String) throws(GazeWireError) -> String {
            let bytes = Array(topic.utf8)
            let result = bytes.withUnsafeBytes { raw in
                Result<String, GazeWireError> { () throws(GazeWireError) in
                    String(decoding: try GazeTopic.streamName(inRawTopic: raw), as: UTF8.self)
                }
            }
            return try result.get()
        }
        #expect(try name("gaze.raw.lab-1:eyelink_2.left") == "lab-1:eyelink_2.left")
        #expect(throws: GazeWireError.topicPrefix) { try name("gaze.clean.a") }
        #expect(throws: GazeWireError.streamNameLength(0)) { try name("gaze.raw.") }
        #expect(throws: GazeWireError.streamNameLength(65)) { try name("gaze.raw." + String(repeating: "a", count: 65)) }
        #expect(throws: GazeWireError.streamNameCharacter) { try name("gaze.raw.../etc") }
        #expect(throws: GazeWireError.streamNameCharacter) { try name("gaze.raw.a/b") }
    }
}

@Suite struct CleanGazeEncoderTests {
    struct Clean: Decodable {
        var t, x, y: Double
        var cov: [[Double]]
        var state: [Double]
        var masked: Bool
        var seq: UInt64
    }

    @Test func roundTripsExactlyThroughFoundation() throws {
        var generator = SeededGenerator(seed: 11)
        var encoder = CleanGazeEncoder()
        for round in 0..<2000 {
            let special: [Double] = [0, -0.0, Double.leastNonzeroMagnitude, Double.leastNormalMagnitude, Double.greatestFiniteMagnitude, 1e-7, 123456789.125]
            func draw() -> Double {
                generator.next() % 5 == 0 ? special[Int(generator.next() % UInt64(special.count))]
                    : Double(bitPattern: generator.next() & 0x7FEF_FFFF_FFFF_FFFF) * (generator.next() % 2 == 0 ? 1 : -1)
            }
            let t = draw(), estimate = [draw(), draw()], covariance = [draw(), draw(), draw(), draw()]
            let state = (0..<(round % 3 == 0 ? 4 : 2)).map { _ in draw() }
            let sequence = generator.next() >> UInt64(round % 64)
            estimate.withUnsafeBufferPointer { e in covariance.withUnsafeBufferPointer { c in state.withUnsafeBufferPointer { s in
                encoder.encode(t: t, estimate: e, covariance: c, state: s, masked: round % 2 == 0, sequence: sequence)
            }}}
            let message = try JSONDecoder().decode(Clean.self, from: Data(encoder.bytes))
            func same(_ a: [Double], _ b: [Double]) -> Bool { a.map(\.bitPattern) == b.map(\.bitPattern) }
            #expect(same([message.t, message.x, message.y], [t] + estimate), "\(String(decoding: encoder.bytes, as: UTF8.self))")
            #expect(same(message.cov.flatMap { $0 }, covariance) && message.cov.count == 2)
            #expect(same(message.state, state))
            #expect(message.masked == (round % 2 == 0))
            #expect(message.seq == sequence)
        }
    }

    @Test func nonFiniteValuesStayValidJSON() throws {
        var encoder = CleanGazeEncoder()
        let values = [Double.nan, .infinity]
        values.withUnsafeBufferPointer { v in
            [1.0, 0, 0, 1].withUnsafeBufferPointer { c in encoder.encode(t: -.infinity, estimate: v, covariance: c, state: v, masked: true, sequence: 0) }
        }
        let object = try JSONSerialization.jsonObject(with: Data(encoder.bytes)) as! [String: Any]
        #expect(object["x"] is NSNull && object["t"] is NSNull)
    }
}
