import Foundation
import GazeKit
import LinearDynamics
import Testing
import _TestSupport

/// Binocular streams in the gaze domain: the wire decoder's binocular keys, the per-eye
/// judgement of the stream model, the cyclopean gaze against G·P·Gᵀ written out, the live
/// filter's published estimate, and recordings and observation files of both eyes.
@Suite struct BinocularGazeTests {
    static func decode(_ text: String, binocular: Bool = true) throws(GazeWireError) -> RawGazeSample {
        let bytes = Array(text.utf8)
        let result = bytes.withUnsafeBytes { raw in
            Result<RawGazeSample, GazeWireError> { () throws(GazeWireError) in try RawGazeDecoder.decode(raw, binocular: binocular) }
        }
        return try result.get()
    }

    @Test func theDecoderReadsBothEyesAndEachEyesConfidence() throws {
        #expect(try Self.decode(#"{"t": 1, "lx": 600, "ly": 400, "rx": 610, "ry": 404}"#)
                == RawGazeSample(t: 1, lx: 600, ly: 400, rx: 610, ry: 404))
        // Each eye's confidence; `confidence` stands for an eye without its own; x and y are ignored.
        #expect(try Self.decode(#"{"ry": null, "rx": NaN, "x": 5, "y": "a", "confidence": 0.7, "left_confidence": 0.2, "lx": -1, "ly": 2e3, "t": 0}"#)
                == RawGazeSample(t: 0, lx: -1, ly: 2000, rx: .nan, ry: .nan, leftConfidence: 0.2, rightConfidence: 0.7))
        #expect(try Self.decode(#"{"t": 0, "l\u0078": 1, "ly": 2, "rx": 3, "ry": 4, "right_confidence": 0.5}"#)
                == RawGazeSample(t: 0, lx: 1, ly: 2, rx: 3, ry: 4, rightConfidence: 0.5))
        // A monocular stream ignores the binocular keys; its samples are as before.
        #expect(try Self.decode(#"{"t": 1, "x": 3, "y": 4, "lx": "junk", "left_confidence": [1]}"#, binocular: false)
                == RawGazeSample(t: 1, x: 3, y: 4))
        let problems: [(String, GazeWireError)] = [
            (#"{"t": 1, "lx": 600, "ly": 400, "rx": 610}"#, .missingField("ry")),
            (#"{"t": 1, "x": 600, "y": 400}"#, .missingField("lx")),
            (#"{"t": 1, "lx": 600, "ly": 400, "rx": 610, "ry": 404, "lx": 1}"#, .duplicateField("lx")),
            (#"{"t": 1, "lx": "600", "ly": 400, "rx": 610, "ry": 404}"#, .notAFiniteNumber("lx")),
            (#"{"t": 1, "lx": 600, "ly": 400, "rx": 610, "ry": 404, "right_confidence": null}"#, .notAFiniteNumber("right_confidence")),
            (#"{"t": 1, "lx": 1e400, "ly": 400, "rx": 610, "ry": 404}"#, .notAFiniteNumber("lx")),
        ]
        for (text, expected) in problems {
            #expect(throws: expected, "\(text)") { try Self.decode(text) }
        }
    }

    @Test func theStreamModelJudgesEachEye() {
        let model = StreamModel(loss: .negative, plausible: PlausibleRange(lower: -100, upper: 2000), binocular: true)
        var both = [600.0, 400, 610, 404]
        let judged = model.judge(&both)
        #expect(judged.verdict == .observed && judged.unusedEyes == 0 && judged.implausibleEyes == 0)
        var oneLost = [600.0, -1, 610, 404]
        let lost = model.judge(&oneLost)
        #expect(lost.verdict == .observed && lost.unusedEyes == 1 && lost.isOneEye && oneLost[0].isNaN && oneLost[1].isNaN && oneLost[2] == 610)
        var wild = [600.0, 400, 1e308, 404]
        let implausible = model.judge(&wild)
        #expect(implausible.verdict == .observed && implausible.unusedEyes == 2 && implausible.implausibleEyes == 1 && wild[3].isNaN)
        var gone = [Double.nan, 400, 5000, 404]
        #expect(model.judge(&gone).verdict == .implausible && gone.allSatisfy(\.isNaN))
        var blink = [-1.0, -1, .nan, 404]
        #expect(model.judge(&blink).verdict == .lost)
        // Confidence per eye.
        let pupil = StreamModel(loss: .confidenceBelow(0.6), binocular: true)
        var sample = [600.0, 400, 610, 404]
        #expect(pupil.judge(&sample, confidence: 0.9, rightConfidence: 0.3).unusedEyes == 2)
        // A monocular sample is one eye, as `verdict` judges it.
        var mono = [600.0, -1]
        #expect(StreamModel().judge(&mono).verdict == .lost)
    }

    /// a·b for row-major matrices given as arrays of rows.
    static func product(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
        var c = [[Double]](repeating: [Double](repeating: 0, count: b[0].count), count: a.count)
        for i in a.indices { for j in b[0].indices { for k in b.indices { c[i][j] += a[i][k] * b[k][j] } } }
        return c
    }

    static func transposed(_ a: [[Double]]) -> [[Double]] { a[0].indices.map { j in a.indices.map { a[$0][j] } } }

    /// The cyclopean gaze from the eyes' estimate equals G·mu + g and G·P·Gᵀ with G the mean
    /// of the eyes' rows of a general H (not [I; I]) and g the mean of their offsets.
    @Test func theCyclopeanGazeIsTheMeanOfTheEyesRows() throws {
        var generator = SeededGenerator(seed: 5)
        let n = 4
        for _ in 0..<20 {
            func random() -> Double { generator.nextStandardNormal() }
            let h: [[Double]] = (0..<4).map { _ in (0..<n).map { _ in random() } }
            let d: [Double] = (0..<4).map { _ in random() * 10 }
            let mu: [[Double]] = (0..<n).map { _ in [random() * 100] }
            let a: [[Double]] = (0..<n).map { _ in (0..<n).map { _ in random() } }
            let p = Self.product(a, Self.transposed(a))
            let hmu = Self.product(h, mu)
            let eyes: [Double] = (0..<4).map { hmu[$0][0] + d[$0] }
            let eyesCovariance: [Double] = Self.product(Self.product(h, p), Self.transposed(h)).flatMap { $0 }
            var gaze = [0.0, 0], covariance = [0.0, 0, 0, 0]
            eyes.withUnsafeBufferPointer { e in
                eyesCovariance.withUnsafeBufferPointer { c in
                    gaze.withUnsafeMutableBufferPointer { g in
                        covariance.withUnsafeMutableBufferPointer { gc in BinocularGaze.cyclopean(eyes: e, covariance: c, into: g, covariance: gc) }
                    }
                }
            }
            let average: [[Double]] = [[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5]]
            let g = Self.product(average, h)  // (H_l + H_r) / 2, row by row
            let gmu = Self.product(g, mu), gpg = Self.product(Self.product(g, p), Self.transposed(g))
            for r in 0..<2 {
                let expected = gmu[r][0] + (d[r] + d[r + 2]) / 2
                #expect(abs(gaze[r] - expected) < 1e-9 * max(1, abs(expected)))
                for s in 0..<2 { #expect(abs(covariance[r * 2 + s] - gpg[r][s]) < 1e-9 * max(1, abs(gpg[r][s]))) }
            }
        }
    }

    /// The live filter of a binocular stream publishes the cyclopean gaze (for H = [I; I] and
    /// no offsets, the state's position and its covariance), each eye's prediction, and which
    /// eyes each sample used, on the filtered and the fixed-lag estimates alike.
    @Test func theFilterPublishesTheCyclopeanGazeAndTheEyes() throws {
        var parameters = GazeModels.binocular
        parameters.observationOffset = [0, 0, 0, 0]
        var filter = GazeStreamFilter(parameters: parameters, model: StreamModel(smoothLag: 2, binocular: true))
        let rows: [[Double]] = [[600, 400, 610, 404], [601, 401, -1, 405], [.nan, .nan, 612, 406], [-1, -1, -1, -1], [603, 403, 613, 407]]
        var smoothedEyes: [UInt8] = []
        for (k, row) in rows.enumerated() {
            _ = row.withUnsafeBufferPointer { filter.process(time: Double(k) / 250, observation: $0, arrival: 0) }
            filter.withLastEstimate { estimate in
                #expect(estimate.mean.count == 2 && estimate.covariance.count == 4 && estimate.eyes.count == 4 && estimate.state.count == 2)
                #expect(abs(estimate.mean[0] - estimate.state[0]) < 1e-9 && abs(estimate.mean[1] - estimate.state[1]) < 1e-9)
                #expect(abs(estimate.eyes[2] - estimate.state[0]) < 1e-9)
                #expect(estimate.unusedEyes == [0, 2, 1, 3, 0][k] && estimate.masked == (k == 3))
            }
            while filter.withNextSmoothed({ smoothedEyes.append($0.unusedEyes); #expect($0.eyes.count == 4 && $0.mean.count == 2) }) {}
        }
        filter.flushSmoothed()
        while filter.withNextSmoothed({ smoothedEyes.append($0.unusedEyes) }) {}
        #expect(smoothedEyes == [0, 2, 1, 3, 0])
        #expect(filter.counters.oneEye == 2 && filter.counters.masked == 1)
    }

    @Test func recordingsKeepBothEyesAndAreReadPerEye() throws {
        let directory = makeTemporaryDirectory("binocular-recording")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let day = UTCCalendar.day()
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { _ in }
        let id = writer.register(stream: "eyes", keepsConfidence: false, binocular: true)
        writer.append(id, RawGazeSample(t: 0, lx: 600, ly: 400, rx: 610, ry: 404))
        writer.append(id, RawGazeSample(t: 0.004, lx: .nan, ly: .nan, rx: 611, ry: 405))
        writer.append(id, RawGazeSample(t: 0.008, lx: 602, ly: 1e9, rx: -1, ry: 406))
        writer.append(id, RawGazeSample(t: 0.012, lx: -1, ly: -1, rx: -1, ry: -1))
        writer.append(id, RawGazeSample(t: 0.016, lx: 603, ly: 403, rx: 613, ry: 407))
        writer.close()
        let path = "\(directory)/eyes/\(day).csv"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "t,lx,ly,rx,ry\n0.0,600.0,400.0,610.0,404.0\n0.004,nan,nan,611.0,405.0\n0.008,602.0,1000000000.0,-1.0,406.0\n0.012,-1.0,-1.0,-1.0,-1.0\n0.016,603.0,403.0,613.0,407.0\n")

        let scan = try RecordingReader.read(directory: directory + "/eyes", model: StreamModel(binocular: true))
        #expect(scan.segments.count == 1 && scan.segments[0].observations.dimension == 4)
        let observations = scan.segments[0].observations
        #expect(observations[0] == [600, 400, 610, 404])
        #expect(observations[1]![0].isNaN && observations[1]![2] == 611)
        #expect(observations[2] == nil)  // the left eye implausible, the right lost: masked
        #expect(observations[3] == nil)
        #expect(scan.oneEyeSamples == 1 && scan.implausibleSamples == 1 && scan.lostSamples == 1)

        // A monocular stream does not read a binocular recording (nor the reverse): listed with the reason.
        let monocular = try RecordingReader.read(directory: directory + "/eyes", model: StreamModel())
        #expect(monocular.segments.isEmpty && monocular.unreadableFiles.count == 1
                && monocular.unreadableFiles[0].contains("has the binocular layout (t,lx,ly,rx,ry), the stream is monocular: not read"),
                "\(monocular.unreadableFiles)")

        // The stream made monocular the same day: the binocular file is moved aside, a new one begun.
        let again = try RecordingWriter(directory: directory, flushInterval: 0.05) { _ in }
        let mono = again.register(stream: "eyes", keepsConfidence: true)
        again.append(mono, time: 1, x: 5, y: 6, confidence: 0.9)
        again.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "t,x,y,confidence\n1.0,5.0,6.0,0.9\n")
        #expect(try String(contentsOfFile: "\(directory)/eyes/\(day).binocular.csv", encoding: .utf8) == text)
    }

    @Test func observationFilesOfBothEyesAreJudgedPerEye() throws {
        let text = """
            t,lx,ly,rx,ry,left_confidence,right_confidence
            0,600,400,610,404,0.9,0.9
            1,601,401,611,405,0.1,0.9
            2,,402,612,406,0.9,0.9
            3,603,403,613,407,0.2,0.3

            """
        let file = try ObservationFile.parse(Data(text.utf8), path: "eyes.csv", model: StreamModel(loss: .confidenceBelow(0.6)))
        #expect(file.isBinocular && file.observations.dimension == 4 && file.rightConfidences == [0.9, 0.9, 0.9, 0.3])
        #expect(file.observations[0] == [600, 400, 610, 404])
        #expect(file.observations[1]![0].isNaN && file.observations[1]![1].isNaN && file.observations[1]![2] == 611)
        #expect(file.observations[2]![1].isNaN && file.observations[2]![3] == 406)  // an eye with a cell missing is lost
        #expect(file.observations[3] == nil)
        #expect(throws: GazeFileError.self) {
            try ObservationFile.parse(Data("t,x,y,left_confidence,right_confidence\n0,1,2,0.5,0.5\n".utf8), path: "bad.csv")
        }
    }

    @Test func pupilTopicsNameTheirEyes() {
        let cases: [(String, PupilEye)] = [("gaze.3d.0.", .right), ("gaze.2d.1.", .left), ("gaze.3d.01.", .both), ("gaze.3d.1._on_surface", .left),
                                           ("gaze", .both), ("gaze.", .both), ("gaze.3d.", .both), ("gaze.3d.10.", .both), ("surfaces.x", .both)]
        for (topic, eye) in cases {
            #expect(Array(topic.utf8).withUnsafeBytes { PupilEye.of(topic: $0) } == eye, "\(topic)")
        }
    }
}
