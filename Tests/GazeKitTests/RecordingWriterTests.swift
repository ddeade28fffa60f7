import Foundation
import GazeKit
import Synchronization
import Testing
import _TestSupport

@Suite struct RecordingWriterTests {
    @Test func writesEverySampleOfEveryStream() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { _ in }
        let a = writer.register(stream: "a"), b = writer.register(stream: "b")
        #expect(writer.register(stream: "a") == a)
        for i in 0..<5000 { writer.append(i % 3 == 0 ? b : a, time: Double(i) / 1000, x: Double(i) * 0.5, y: -1) }
        writer.close()
        writer.close()
        #expect(writer.statistics.written == 5000 && writer.statistics.failed == 0)
        for (name, residue) in [("a", [1, 2]), ("b", [0])] {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(name)")
            let file = try ObservationFile.read("\(directory)/\(name)/\(files[0])", model: .raw)
            let expected = (0..<5000).filter { residue.contains($0 % 3) }
            #expect(file.times == expected.map { Double($0) / 1000 })
            #expect(file.observations.values == expected.flatMap { [Double($0) * 0.5, -1] })
        }
    }

    @Test func flushesWithinAboutASecond() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.25) { _ in }
        defer { writer.close() }
        writer.append(writer.register(stream: "s"), time: 1, x: 2, y: 3)
        var text = ""
        for _ in 0..<100 {
            if let files = try? FileManager.default.contentsOfDirectory(atPath: directory + "/s"), let file = files.first {
                text = (try? String(contentsOfFile: "\(directory)/s/\(file)", encoding: .utf8)) ?? ""
                if text.contains("1.0,2.0,3.0") { break }
            }
            usleep(20_000)
        }
        #expect(text == "t,x,y\n1.0,2.0,3.0\n")
    }

    @Test func aLineCutShortByACrashIsEndedBeforeAppending() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/s/\(UTCCalendar.day()).csv"
        try FileManager.default.createDirectory(atPath: directory + "/s", withIntermediateDirectories: true)
        try "t,x,y\n1.0,2.0,3.0\n4.0,5".write(toFile: path, atomically: false, encoding: .utf8)
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { _ in }
        writer.append(writer.register(stream: "s"), time: 6, x: 7, y: 8)
        writer.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "t,x,y\n1.0,2.0,3.0\n4.0,5\n6.0,7.0,8.0\n")
    }

    @Test func aFullDiskIsReportedAndCounted() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reports = Mutex<[String]>([])
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { message in reports.withLock { $0.append(message) } }
        // The day's file is /dev/full: every write succeeds into stdio's buffer and every
        // flush fails with ENOSPC, so nothing may count as written.
        let stream = writer.register(stream: "full")
        try FileManager.default.createDirectory(atPath: directory + "/full", withIntermediateDirectories: true)
        let date = UTCCalendar.day()
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/full/\(date).csv", withDestinationPath: "/dev/full")
        for i in 0..<100 { writer.append(stream, time: Double(i), x: 1, y: 1) }
        writer.close()
        let messages = reports.withLock { $0 }
        #expect(messages.count >= 1 && messages[0].contains("No space left on device") && messages[0].contains("\(directory)/full/\(date).csv"), "\(messages)")
        #expect(writer.statistics.failed == 100)
        #expect(writer.statistics.written == 0)
    }

    /// After a failed flush the file is closed and reopened for the next batch, and a line the
    /// failed flush left cut short is ended before the next sample, so the two never merge.
    @Test func aFailedFlushReopensTheFileAndEndsACutLine() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reports = Mutex<[String]>([])
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { message in reports.withLock { $0.append(message) } }
        let stream = writer.register(stream: "s")
        try FileManager.default.createDirectory(atPath: directory + "/s", withIntermediateDirectories: true)
        let path = "\(directory)/s/\(UTCCalendar.day()).csv"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/full")
        for i in 0..<10 { writer.append(stream, time: Double(i), x: 1, y: 1) }
        // Wait until all ten have failed (at most 10 s; no time is asserted).
        for _ in 0..<1000 where writer.statistics.failed < 10 { usleep(10_000) }
        #expect(writer.statistics.failed == 10 && writer.statistics.written == 0)
        #expect(reports.withLock { $0.count } == 1)
        // The disk "has space again", and the failed flush left a line cut short.
        try FileManager.default.removeItem(atPath: path)
        try "t,x,y\n1.0,2.0,3.0\n4.0,5".write(toFile: path, atomically: false, encoding: .utf8)
        writer.append(stream, time: 6, x: 7, y: 8)
        writer.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "t,x,y\n1.0,2.0,3.0\n4.0,5\n6.0,7.0,8.0\n")
        #expect(writer.statistics.written == 1 && writer.statistics.failed == 10)
    }

    /// Failures at shutdown are reported: fsync of /dev/null fails with EINVAL.
    @Test func aFailedSyncAtShutdownIsReported() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reports = Mutex<[String]>([])
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { message in reports.withLock { $0.append(message) } }
        let stream = writer.register(stream: "null")
        try FileManager.default.createDirectory(atPath: directory + "/null", withIntermediateDirectories: true)
        let path = "\(directory)/null/\(UTCCalendar.day()).csv"
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/null")
        writer.append(stream, time: 1, x: 2, y: 3)
        writer.close()
        let messages = reports.withLock { $0 }
        #expect(messages.count == 1 && messages[0].contains("at shutdown: cannot sync \(path)"), "\(messages)")
        #expect(writer.statistics.written == 1 && writer.statistics.failed == 0)
    }
}
