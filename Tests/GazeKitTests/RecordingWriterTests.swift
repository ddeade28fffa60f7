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

    /// A kill -9 mid-write leaves a cut line; reopening drops it, so it is never read back as a sample.
    @Test func aLineCutShortByAKillIsDroppedBeforeAppending() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/s/\(UTCCalendar.day()).csv"
        try FileManager.default.createDirectory(atPath: directory + "/s", withIntermediateDirectories: true)
        try "t,x,y\n1.0,2.0,3.0\n4.0,5".write(toFile: path, atomically: false, encoding: .utf8)
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { _ in }
        writer.append(writer.register(stream: "s"), time: 6, x: 7, y: 8)
        writer.close()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "t,x,y\n1.0,2.0,3.0\n6.0,7.0,8.0\n")
    }

    /// A real full disk (a tmpfs of 64 KiB filled up): the write that fails midway is truncated
    /// back to the last whole line, so the file holds exactly the samples counted as written.
    @Test(.enabled(if: SmallDisk.available, "needs root to mount a tmpfs"))
    func aFullDiskLeavesOnlyWholeLines() throws {
        let disk = try SmallDisk(kilobytes: 64)
        let reports = Mutex<[String]>([])
        let writer = try RecordingWriter(directory: disk.path + "/rec", flushInterval: 0.05) { message in reports.withLock { $0.append(message) } }
        let stream = writer.register(stream: "s")
        func sample(_ i: Int) -> (Double, Double, Double) { (1000 + Double(i) / 1000, 128.415989012345 + Double(i), 241.550290123456 + Double(i)) }
        func line(_ i: Int) -> String { let (t, x, y) = sample(i); return "\(t),\(x),\(y)\n" }
        func append(_ range: Range<Int>) { for i in range { let (t, x, y) = sample(i); writer.append(stream, time: t, x: x, y: y) } }
        func waitFor(_ done: () -> Bool) { for _ in 0..<1000 where !done() { usleep(10_000) } }
        append(0..<10)
        waitFor { writer.statistics.written == 10 }
        disk.fill()
        append(10..<3010)  // about 150 KB: the first part fits the file's last page, then ENOSPC
        waitFor { writer.statistics.failed == 3000 }
        disk.makeRoom()
        append(3010..<3020)
        writer.close()
        let text = try String(contentsOfFile: "\(disk.path)/rec/s/\(UTCCalendar.day()).csv", encoding: .utf8)
        #expect(text == "t,x,y\n" + (0..<10).map(line).joined() + (3010..<3020).map(line).joined())
        #expect(writer.statistics.written == 20 && writer.statistics.failed == 3000)
        #expect(reports.withLock { $0.first?.contains("No space left on device") ?? false }, "\(reports.withLock { $0 })")
    }

    /// A FIFO or a device under the day's file name is refused at once (never waited on).
    @Test func aFileThatIsNotARegularFileIsRefusedWithoutBlocking() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let reports = Mutex<[String]>([])
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.05) { message in reports.withLock { $0.append(message) } }
        try FileManager.default.createDirectory(atPath: directory + "/fifo", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/full", withIntermediateDirectories: true)
        #expect(mkfifo("\(directory)/fifo/\(UTCCalendar.day()).csv", 0o600) == 0)
        try FileManager.default.createSymbolicLink(atPath: "\(directory)/full/\(UTCCalendar.day()).csv", withDestinationPath: "/dev/full")
        let fifo = writer.register(stream: "fifo"), full = writer.register(stream: "full")
        for i in 0..<10 { writer.append(i % 2 == 0 ? fifo : full, time: Double(i), x: 1, y: 1) }
        writer.close()
        #expect(writer.statistics.failed == 10 && writer.statistics.written == 0)
        let message = reports.withLock { $0.first } ?? ""
        #expect(message.contains("is a FIFO (named pipe), not a regular file") || message.contains("is a character device, not a regular file"), "\(message)")
    }

    /// However many streams, at most `maximumOpenFiles` files are open; every sample still lands.
    @Test func openFilesStayBounded() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.02, maximumOpenFiles: 4) { _ in }
        let streams = (0..<40).map { writer.register(stream: "s\($0)") }
        var most = 0
        for round in 0..<5 {
            for (index, stream) in streams.enumerated() { writer.append(stream, time: Double(round), x: Double(index), y: 1) }
            for _ in 0..<500 where writer.statistics.written < UInt64((round + 1) * 40) { usleep(2_000) }
            most = max(most, writer.statistics.openFiles)
        }
        writer.close()
        #expect(most <= 4 && most >= 1)
        #expect(writer.statistics.written == 200 && writer.statistics.failed == 0)
        for index in [0, 17, 39] {
            let text = try String(contentsOfFile: "\(directory)/s\(index)/\(UTCCalendar.day()).csv", encoding: .utf8)
            #expect(text == "t,x,y\n" + (0..<5).map { "\(Double($0)),\(Double(index)),1.0\n" }.joined())
        }
    }

    /// A released stream's file is closed and its slot reused by the next new stream.
    @Test func aReleasedSlotIsReused() throws {
        let directory = makeTemporaryDirectory("rec")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try RecordingWriter(directory: directory, flushInterval: 0.02) { _ in }
        defer { writer.close() }
        let a = writer.register(stream: "a")
        writer.append(a, time: 1, x: 2, y: 3)
        writer.release(a)
        for _ in 0..<500 where writer.statistics.written < 1 || writer.statistics.openFiles > 0 { usleep(2_000) }
        usleep(50_000)
        #expect(writer.statistics.openFiles == 0)
        #expect(writer.register(stream: "b") == a)
    }
}
