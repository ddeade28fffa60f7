import Foundation
import GazeKit
import Testing
import _TestSupport

@Suite struct RecordingReaderTests {
    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func splitsAtGapsAndFilesAndCountsBadLines() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.write("t,x,y\n0.0,1,2\n0.1,3,-1\n0.2,5,6\n2.0,7,8\n2.1,9,10\n", to: directory + "/2026-11-24.csv")
        try Self.write("t,x,y\n3.0,1,2\ngarbage\n3.1,1\n3.2,1,2,3\n2.95,4,4\n3.3,nan,2\n3.4,5,5\n3.5,6,", to: directory + "/2026-11-25.csv")
        try Self.write("t,x,y\n0,1,1\n", to: directory + "/2026-11-01.csv")
        let scan = try RecordingReader.read(directory: directory, since: "2026-11-24", splitGap: 0.5)
        #expect(scan.files.count == 2)
        #expect(scan.segments.map(\.observations.count) == [3, 2, 2])
        #expect(scan.segments[0].observations.mask == [false, true, false])
        #expect(scan.corruptLines == 4)  // garbage, 2 fields, 4 fields, nan
        #expect(scan.corruptExamples.first?.hasSuffix("2026-11-25.csv:3") == true)
        #expect(scan.outOfOrder == 1)
        #expect(scan.incompleteLines == 1)
        #expect(scan.segments[2].times == [3.0, 3.4])
    }

    @Test func keepsTheMostRecentSamples() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.write("t,x,y\n" + (0..<100).map { "\(Double($0) * 0.01),\($0),1\n" }.joined(), to: directory + "/2026-11-25.csv")
        let scan = try RecordingReader.read(directory: directory, maximumSamples: 30, splitGap: 1)
        #expect(scan.sampleCount == 30 && scan.trimmed == 70)
        #expect(scan.segments[0].observations[0] == [70, 1])
    }

    @Test func aMissingDirectoryIsANamedError() {
        #expect(throws: GazeFileError.self) { try RecordingReader.read(directory: "/nonexistent/stream", splitGap: 1) }
    }
}
