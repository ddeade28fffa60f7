import Foundation
import GazeKit
import Testing
import _TestSupport

/// Recordings keep what a stream's loss rule needs: a confidence column for streams that
/// carry one, a file keeping the layout its header says, and the refit's reader reading both.
struct RecordingConfidenceTests {
    @Test func aStreamThatKeepsConfidenceRecordsItAndTheReaderAppliesItsRule() throws {
        let directory = makeTemporaryDirectory("rec-confidence")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let recorder = try RecordingWriter(directory: directory) { _ in }
        let pupil = recorder.register(stream: "pupil", keepsConfidence: true)
        let plain = recorder.register(stream: "plain")
        for i in 0..<10 {
            recorder.append(pupil, time: Double(i), x: 100 + Double(i), y: 200, confidence: i % 3 == 0 ? 0.2 : 0.9)
            recorder.append(plain, time: Double(i), x: i % 4 == 0 ? -1 : 100, y: 200, confidence: 0.5)
        }
        recorder.close()
        let day = UTCCalendar.day()
        let pupilLines = try String(contentsOfFile: "\(directory)/pupil/\(day).csv", encoding: .utf8).split(separator: "\n")
        #expect(pupilLines.first == "t,x,y,confidence" && pupilLines[1] == "0.0,100.0,200.0,0.2")
        let plainLines = try String(contentsOfFile: "\(directory)/plain/\(day).csv", encoding: .utf8).split(separator: "\n")
        #expect(plainLines.first == "t,x,y" && plainLines[1] == "0.0,-1.0,200.0")

        let confidence = try RecordingReader.read(directory: "\(directory)/pupil", model: StreamModel(loss: .confidenceBelow(0.6)))
        #expect(confidence.sampleCount == 10 && confidence.lostSamples == 4)
        let negative = try RecordingReader.read(directory: "\(directory)/plain", model: StreamModel())
        #expect(negative.sampleCount == 10 && negative.lostSamples == 3)
        // The confidence rule on a recording without confidence: nothing can vouch for a sample.
        let unvouched = try RecordingReader.read(directory: "\(directory)/plain", model: StreamModel(loss: .confidenceBelow(0.6)))
        #expect(unvouched.lostSamples == 10)
    }

    @Test func anExistingFileKeepsTheLayoutOfItsHeader() throws {
        let directory = makeTemporaryDirectory("rec-layout")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let day = UTCCalendar.day()
        try FileManager.default.createDirectory(atPath: "\(directory)/s", withIntermediateDirectories: true)
        try "t,x,y\n1.0,2.0,3.0\n".write(toFile: "\(directory)/s/\(day).csv", atomically: true, encoding: .utf8)
        let recorder = try RecordingWriter(directory: directory) { _ in }
        let stream = recorder.register(stream: "s", keepsConfidence: true)  // registered differently since the file began
        recorder.append(stream, time: 2, x: 4, y: 5, confidence: 0.7)
        recorder.close()
        #expect(try String(contentsOfFile: "\(directory)/s/\(day).csv", encoding: .utf8) == "t,x,y\n1.0,2.0,3.0\n2.0,4.0,5.0\n")
    }
}
