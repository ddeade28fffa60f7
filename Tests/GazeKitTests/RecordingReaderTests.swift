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
        let scan = try RecordingReader.read(directory: directory, since: "2026-11-24", through: "2026-11-25", model: StreamModel(resetAfterSeconds: 0.5))
        #expect(scan.files.count == 2)
        #expect(scan.segments.map(\.observations.count) == [3, 2, 3])
        #expect(scan.segments[0].observations.mask == [false, true, false])
        #expect(scan.segments[2].observations.mask == [false, true, false])  // nan: a lost value, as the daemon records it
        #expect(scan.corruptLines == 3)  // garbage, 2 fields, 4 fields
        #expect(scan.lostSamples == 2)
        // Each example names the file, the line and the problem.
        let file = directory + "/2026-11-25.csv"
        #expect(scan.corruptExamples == [
            "\(file):3: has 1 field, expected 3 (t,x,y)", "\(file):4: has 2 fields, expected 3 (t,x,y)",
            "\(file):5: has 4 fields, expected 3 (t,x,y)"])
        #expect(scan.outOfOrder == 1)  // 2.95 after 3.0: a stale sample, not a clock restart
        #expect(scan.clockRestarts == 0)
        #expect(scan.incompleteLines == 1)
        #expect(scan.segments[2].times == [3.0, 3.3, 3.4])
    }

    @Test func keepsTheMostRecentSamples() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.write("t,x,y\n" + (0..<100).map { "\(Double($0) * 0.01),\($0),1\n" }.joined(), to: directory + "/2026-11-25.csv")
        let scan = try RecordingReader.read(directory: directory, through: "2026-11-25", maximumSamples: 30, model: StreamModel(resetAfterSeconds: 1))
        #expect(scan.sampleCount == 30 && scan.trimmed == 70)
        #expect(scan.segments.count == 1)
        #expect(scan.segments[0].observations[0] == [70, 1])
        #expect(scan.segments[0].times.first == 70 * 0.01 && scan.segments[0].times.last == 99 * 0.01)
    }

    /// A day's file of `count` samples `t = start + i/100`, `x = label*1000 + i`.
    static func day(_ daysAgo: Int, label: Int, count: Int = 100, start: Double = 0, in directory: String) throws -> String {
        let name = UTCCalendar.day(secondsAgo: Double(daysAgo) * 86_400) + ".csv"
        try write("t,x,y\n" + (0..<count).map { "\(start + Double($0) * 0.01),\(label * 1000 + $0),1\n" }.joined(), to: directory + "/" + name)
        return directory + "/" + name
    }

    @Test func theSampleLimitReadsNewestFilesFirstAndLeavesOlderOnesUnread() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = try Self.day(2, label: 1, in: directory), middle = try Self.day(1, label: 2, in: directory)
        let new = try Self.day(0, label: 3, in: directory)
        let scan = try RecordingReader.read(directory: directory, maximumSamples: 150, model: StreamModel(resetAfterSeconds: 1))
        #expect(scan.files == [middle, new])
        #expect(scan.filesNotRead == [old])
        #expect(scan.sampleCount == 150 && scan.trimmed == 50)
        // In time order: the most recent half of yesterday's file, then all of today's.
        #expect(scan.segments.map(\.file) == [middle, new])
        #expect(scan.segments[0].observations[0] == [2050, 1] && scan.segments[1].observations[99] == [3099, 1])
        let exact = try RecordingReader.read(directory: directory, maximumSamples: 100, model: StreamModel(resetAfterSeconds: 1))
        #expect(exact.files == [new] && exact.filesNotRead == [old, middle] && exact.trimmed == 0)
        let all = try RecordingReader.read(directory: directory, model: StreamModel(resetAfterSeconds: 1))
        #expect(all.files == [old, middle, new] && all.sampleCount == 300 && all.filesNotRead.isEmpty)
    }

    @Test func aClockRestartStartsANewSequenceAndASmallStepBackIsStale() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // 5 s of samples, the tracker restarts its clock at 0, one stale sample (0.2 s back), more samples.
        let before = (0..<500).map { "\(5.0 + Double($0) * 0.01),1,1\n" }.joined()
        let after = (0..<300).map { "\(Double($0) * 0.01),2,2\n" }.joined()
        try Self.write("t,x,y\n" + before + after + "2.79,3,3\n" + "3.0,4,4\n", to: directory + "/2026-11-25.csv")
        let scan = try RecordingReader.read(directory: directory, through: "2026-11-25", model: StreamModel(resetAfterSeconds: 0.5))
        #expect(scan.clockRestarts == 1)
        #expect(scan.outOfOrder == 1)
        #expect(scan.segments.map(\.observations.count) == [500, 301])
        #expect(scan.segments[1].times.first == 0 && scan.segments[1].times.last == 3.0)
        #expect(scan.sampleCount == 801)
    }

    @Test func onlyDatedRecordingsUpToTodayAreRead() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let today = try Self.day(0, label: 1, in: directory)
        for name in ["notadate.csv", "2099-01-01.csv", "x copy.csv", "2026-13-01.csv", "2026-11-25.csv.bak", "notes.txt"] {
            try Self.write("t,x,y\n9999,9,9\n", to: directory + "/" + name)
        }
        try Self.write("t,x,y\n", to: directory + "/.hidden.csv")
        let scan = try RecordingReader.read(directory: directory, model: StreamModel(resetAfterSeconds: 1))
        #expect(scan.files == [today])
        #expect(scan.ignoredFiles.sorted() == ["2026-11-25.csv.bak", "2026-13-01.csv", "2099-01-01.csv", "notadate.csv", "notes.txt", "x copy.csv"])
        #expect(scan.sampleCount == 100 && scan.segments.allSatisfy { $0.times.allSatisfy { $0 < 9999 } })
        // The window is by whole UTC days: yesterday's file counts from any time yesterday.
        let yesterday = try Self.day(1, label: 2, in: directory)
        let window = try RecordingReader.read(directory: directory, since: UTCCalendar.day(secondsAgo: 3600 * 24), model: StreamModel(resetAfterSeconds: 1))
        #expect(window.files == [yesterday, today])
    }

    @Test func unreadableAndOverlongLinesAreCountedNotFatal() throws {
        let directory = makeTemporaryDirectory("reader")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A "recording" that is a directory cannot be read (even by root): counted, the rest still read.
        try FileManager.default.createDirectory(atPath: directory + "/2026-11-23.csv", withIntermediateDirectories: true)
        let long = String(repeating: "7", count: 3 << 20)
        try Self.write("t,x,y\n0,1,1\n\(long)\n0.01,2,\u{1}\n0.02,3,3\n", to: directory + "/2026-11-24.csv")
        let scan = try RecordingReader.read(directory: directory, through: "2026-11-25", model: StreamModel(resetAfterSeconds: 1))
        #expect(scan.unreadableFiles.count == 1)
        #expect(scan.unreadableFiles.first?.hasPrefix(directory + "/2026-11-23.csv: ") == true)
        #expect(scan.files == [directory + "/2026-11-24.csv"])
        #expect(scan.sampleCount == 2)
        #expect(scan.corruptLines == 2)
        #expect(scan.corruptExamples.first?.hasSuffix("2026-11-24.csv:3: is longer than 1048576 bytes") == true, "\(scan.corruptExamples)")
        #expect(scan.corruptExamples.last?.hasSuffix("2026-11-24.csv:4: y is not a number: \"\\x01\"") == true, "\(scan.corruptExamples)")
    }

    @Test func aMissingDirectoryIsANamedError() {
        #expect(throws: GazeFileError.self) { try RecordingReader.read(directory: "/nonexistent/stream", model: StreamModel(resetAfterSeconds: 1)) }
    }
}
