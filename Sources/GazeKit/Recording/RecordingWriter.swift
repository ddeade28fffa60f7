#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Appends every raw sample of every stream to `DIR/<stream>/<UTC date>.csv` (header `t,x,y`),
/// off the sample path: `append` only copies four numbers into a queue under a lock; a writer
/// thread formats and writes them and flushes at least once per `flushInterval`.
///
/// A failing disk (full, read-only, removed) is reported through `report` (at most once per
/// ten seconds) and counted; the samples of a failed write are lost for the recording, the
/// filter goes on.
public final class RecordingWriter: Sendable {
    /// Identifies a registered stream cheaply on the sample path.
    public typealias StreamID = Int32

    /// What the recorder has done, for statistics.
    public struct Statistics: Sendable, Equatable {
        /// Samples written to files.
        public var written: UInt64 = 0
        /// Samples that could not be written (disk errors).
        public var failed: UInt64 = 0
        /// Samples waiting in the queue at the last look.
        public var pending: Int = 0
    }

    private struct Record {
        var stream: StreamID
        var time: Double, x: Double, y: Double
    }

    private struct Queue {
        var records: [Record] = []
        var streams: [String] = []
        var closing = false
        var statistics = Statistics()
    }

    /// The recordings' root directory.
    public let directory: String
    private let flushInterval: Double
    private let queue: Mutex<Queue>
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let report: @Sendable (String) -> Void

    /// Starts a recorder under `directory` (created if missing).
    /// - Throws: `GazeFileError` when the directory cannot be created.
    public init(directory: String, flushInterval: Double = 0.25, report: @escaping @Sendable (String) -> Void) throws(GazeFileError) {
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw GazeFileError(path: directory, "cannot create the recording directory: \(error.localizedDescription)")
        }
        self.directory = directory
        self.flushInterval = flushInterval
        self.report = report
        var initial = Queue()
        initial.records.reserveCapacity(1 << 16)
        self.queue = Mutex(initial)
        let thread = Thread { [self] in writerLoop() }
        thread.name = "gazefilterd-recorder"
        thread.start()
    }

    /// Registers a stream by name (once per stream; the name must be safe as a directory name).
    public func register(stream name: String) -> StreamID {
        queue.withLock { queue in
            if let existing = queue.streams.firstIndex(of: name) { return StreamID(existing) }
            queue.streams.append(name)
            return StreamID(queue.streams.count - 1)
        }
    }

    /// Queues one raw sample (masked ones too, exactly as received).
    @inline(__always)
    public func append(_ stream: StreamID, time: Double, x: Double, y: Double) {
        queue.withLock { $0.records.append(Record(stream: stream, time: time, x: x, y: y)) }
    }

    /// Counters so far.
    public var statistics: Statistics {
        queue.withLock { queue in
            var statistics = queue.statistics
            statistics.pending = queue.records.count
            return statistics
        }
    }

    /// Writes everything queued, flushes, closes the files and stops the thread. Idempotent.
    public func close() {
        let alreadyClosing = queue.withLock { queue -> Bool in
            defer { queue.closing = true }
            return queue.closing
        }
        guard !alreadyClosing else { return }
        wake.signal()
        finished.wait()
    }

    // MARK: Writer thread

    private final class OpenFile {
        let handle: UnsafeMutablePointer<FILE>
        let date: String
        init(handle: UnsafeMutablePointer<FILE>, date: String) { self.handle = handle; self.date = date }
    }

    private func writerLoop() {
        var batch: [Record] = []
        batch.reserveCapacity(1 << 16)
        var files: [StreamID: OpenFile] = [:]
        var names: [String] = []
        var lastReport = 0.0
        var line = [UInt8]()
        line.reserveCapacity(128)
        while true {
            _ = wake.wait(timeout: .now() + flushInterval)
            let closing = queue.withLock { queue -> Bool in
                swap(&queue.records, &batch)
                if names.count != queue.streams.count { names = queue.streams }
                return queue.closing
            }
            if !batch.isEmpty {
                let date = UTCCalendar.day()
                var written: UInt64 = 0, failed: UInt64 = 0
                var failure: String?
                var touched = Set<StreamID>()
                for record in batch {
                    guard let file = openFile(record.stream, names: names, date: date, files: &files, failure: &failure) else {
                        failed += 1
                        continue
                    }
                    line.removeAll(keepingCapacity: true)
                    Self.appendCSV(record, to: &line)
                    let count = line.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file.handle) }
                    if count == line.count { written += 1 } else {
                        failed += 1
                        failure = failure ?? "cannot write \(path(names[Int(record.stream)], date)): \(String(cString: strerror(errno)))"
                    }
                    touched.insert(record.stream)
                }
                for stream in touched {
                    if let file = files[stream], fflush(file.handle) != 0 {
                        failure = failure ?? "cannot flush \(path(names[Int(stream)], file.date)): \(String(cString: strerror(errno)))"
                        clearerr(file.handle)
                    }
                }
                batch.removeAll(keepingCapacity: true)
                queue.withLock { queue in
                    queue.statistics.written += written
                    queue.statistics.failed += failed
                }
                if let failure {
                    let now = Date().timeIntervalSince1970
                    if now - lastReport >= 10 {
                        report("recording: \(failure) (samples not recorded so far: \(statistics.failed))")
                        lastReport = now
                    }
                }
            }
            if closing {
                let empty = queue.withLock { $0.records.isEmpty }
                if empty { break }
            }
        }
        for file in files.values {
            fflush(file.handle)
            fsync(fileno(file.handle))
            fclose(file.handle)
        }
        finished.signal()
    }

    private func path(_ stream: String, _ date: String) -> String { "\(directory)/\(stream)/\(date).csv" }

    private func openFile(_ stream: StreamID, names: [String], date: String, files: inout [StreamID: OpenFile], failure: inout String?) -> OpenFile? {
        if let file = files[stream], file.date == date { return file }
        if let old = files.removeValue(forKey: stream) { fclose(old.handle) }
        let name = names[Int(stream)]
        let folder = "\(directory)/\(name)"
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            failure = failure ?? "cannot create \(folder): \(error.localizedDescription)"
            return nil
        }
        let filePath = path(name, date)
        guard let handle = fopen(filePath, "a+") else {
            failure = failure ?? "cannot open \(filePath): \(String(cString: strerror(errno)))"
            return nil
        }
        fseek(handle, 0, SEEK_END)
        if ftell(handle) == 0 {
            fputs("t,x,y\n", handle)
        } else if fseek(handle, -1, SEEK_END) == 0, fgetc(handle) != Int32(UInt8(ascii: "\n")) {
            // A line cut short (a crash, a full disk) is ended here, so the next sample is whole.
            fputc(Int32(UInt8(ascii: "\n")), handle)
        }
        let file = OpenFile(handle: handle, date: date)
        files[stream] = file
        return file
    }

    private static func appendCSV(_ record: Record, to line: inout [UInt8]) {
        line.append(contentsOf: record.time.description.utf8)
        line.append(UInt8(ascii: ","))
        line.append(contentsOf: record.x.description.utf8)
        line.append(UInt8(ascii: ","))
        line.append(contentsOf: record.y.description.utf8)
        line.append(UInt8(ascii: "\n"))
    }
}
