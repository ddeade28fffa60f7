#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Appends every raw sample of every stream to `DIR/<stream>/<UTC date>.csv` (header `t,x,y`,
/// or `t,x,y,confidence` for a stream registered to keep its confidence, as a Pupil stream or
/// one whose loss rule reads confidence must, so the refit can apply the same rule), off the
/// sample path: `append` only copies five numbers into a queue under a lock; a writer thread
/// formats and writes them and flushes at least once per `flushInterval`. A file keeps the
/// layout its header says, even if the stream's registration changed since it was begun.
///
/// A failing disk (full, read-only, removed) is reported through `report` (at most once per
/// ten seconds) and counted; the samples of a failed write or flush are lost for the
/// recording, the file is reopened for the next batch, and the filter goes on. Failures to
/// flush, sync or close at `close()` are always reported.
public final class RecordingWriter: Sendable {
    /// Identifies a registered stream cheaply on the sample path.
    public typealias StreamID = Int32

    /// What the recorder has done, for statistics.
    public struct Statistics: Sendable, Equatable {
        /// Samples handed to the operating system: written and flushed without error.
        public var written: UInt64 = 0
        /// Samples that could not be written or flushed (disk errors). A flush that failed
        /// midway may have put some of them in the file (the last possibly cut short): this
        /// counts what is not known to be recorded.
        public var failed: UInt64 = 0
        /// Samples waiting in the queue at the last look.
        public var pending: Int = 0
    }

    private struct Record {
        var stream: StreamID
        var time: Double, x: Double, y: Double, confidence: Double
    }

    private struct Queue {
        var records: [Record] = []
        var streams: [String] = []
        var keepsConfidence: [Bool] = []
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
        do { try FileSystem.createDirectory(directory) } catch {
            throw GazeFileError(path: directory, "cannot create the recording directory: \(error)")
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

    /// Registers a stream by name (once per stream; the name must be safe as a directory name);
    /// with `keepsConfidence`, its new files have a confidence column.
    public func register(stream name: String, keepsConfidence: Bool = false) -> StreamID {
        queue.withLock { queue in
            if let existing = queue.streams.firstIndex(of: name) { return StreamID(existing) }
            queue.streams.append(name)
            queue.keepsConfidence.append(keepsConfidence)
            return StreamID(queue.streams.count - 1)
        }
    }

    /// Queues one raw sample (masked ones too, exactly as received; `confidence` NaN when the
    /// source gave none).
    @inline(__always)
    public func append(_ stream: StreamID, time: Double, x: Double, y: Double, confidence: Double = .nan) {
        queue.withLock { $0.records.append(Record(stream: stream, time: time, x: x, y: y, confidence: confidence)) }
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
        /// Whether its lines have a confidence column (its header says so).
        let withConfidence: Bool
        init(handle: UnsafeMutablePointer<FILE>, date: String, withConfidence: Bool) {
            self.handle = handle
            self.date = date
            self.withConfidence = withConfidence
        }
    }

    private func writerLoop() {
        var batch: [Record] = []
        batch.reserveCapacity(1 << 16)
        var files: [StreamID: OpenFile] = [:]
        var names: [String] = []
        var keepsConfidence: [Bool] = []
        var lastReport = 0.0
        var line = [UInt8]()
        line.reserveCapacity(128)
        var unflushed: [StreamID: UInt64] = [:]
        while true {
            _ = wake.wait(timeout: .now() + flushInterval)
            let closing = queue.withLock { queue -> Bool in
                swap(&queue.records, &batch)
                if names.count != queue.streams.count { (names, keepsConfidence) = (queue.streams, queue.keepsConfidence) }
                return queue.closing
            }
            if !batch.isEmpty {
                let (written, failed, failure) = writeBatch(batch, names: names, keepsConfidence: keepsConfidence, files: &files, unflushed: &unflushed, line: &line)
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
        // Every batch was flushed already; what remains is making it durable and closing.
        // Failures here are always reported (the process is about to stop).
        var failures: [String] = []
        for (stream, file) in files {
            let filePath = path(names[Int(stream)], file.date)
            if fflush(file.handle) != 0 { failures.append("cannot flush \(filePath): \(systemErrorText())") }
            if fsync(fileno(file.handle)) != 0 { failures.append("cannot sync \(filePath) to disk: \(systemErrorText())") }
            if fclose(file.handle) != 0 { failures.append("cannot close \(filePath): \(systemErrorText())") }
        }
        if !failures.isEmpty {
            report("recording: at shutdown: \(failures.joined(separator: "; ")) (samples not recorded: \(statistics.failed))")
        }
        finished.signal()
    }

    /// Writes one batch and flushes every file it touched.
    ///
    /// A file's samples count as written only once its `fflush` succeeded: stdio buffers
    /// `fwrite`, so a full disk usually shows only at the flush. When a write or a flush of a
    /// file fails, all of that file's samples of this batch not yet flushed count as failed
    /// (glibc discards the buffer of a failed flush, so none reaches the file later; the
    /// kernel may have taken a part, ending in a cut-short line), the file is closed and dropped, and the
    /// stream's remaining samples of this batch fail without retrying. The next batch reopens
    /// the file, and `openFile` ends a cut-short last line first.
    /// - Returns: samples written and failed, and the first failure's description.
    private func writeBatch(_ batch: [Record], names: [String], keepsConfidence: [Bool], files: inout [StreamID: OpenFile],
                            unflushed: inout [StreamID: UInt64], line: inout [UInt8]) -> (written: UInt64, failed: UInt64, failure: String?) {
        let date = UTCCalendar.day()
        var written: UInt64 = 0, failed: UInt64 = 0
        var failure: String?
        unflushed.removeAll(keepingCapacity: true)
        var broken = Set<StreamID>()
        /// Closes and forgets a failed file, counting its unflushed samples as failed.
        func abandon(_ stream: StreamID) {
            failed += unflushed.removeValue(forKey: stream) ?? 0
            broken.insert(stream)
            if let file = files.removeValue(forKey: stream) {
                clearerr(file.handle)
                fclose(file.handle)
            }
        }
        for record in batch {
            guard !broken.contains(record.stream) else {
                failed += 1
                continue
            }
            guard let file = openFile(record.stream, names: names, keepsConfidence: keepsConfidence, date: date, files: &files,
                                      failure: &failure) else {
                failed += 1
                broken.insert(record.stream)
                continue
            }
            line.removeAll(keepingCapacity: true)
            Self.appendCSV(record, withConfidence: file.withConfidence, to: &line)
            let count = line.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file.handle) }
            if count == line.count {
                unflushed[record.stream, default: 0] += 1
            } else {
                failure = failure ?? "cannot write \(path(names[Int(record.stream)], date)): \(systemErrorText())"
                failed += 1
                abandon(record.stream)
            }
        }
        for (stream, count) in unflushed {
            guard let file = files[stream] else { continue }
            if fflush(file.handle) == 0 {
                written += count
            } else {
                failure = failure ?? "cannot flush \(path(names[Int(stream)], file.date)): \(systemErrorText())"
                abandon(stream)
            }
        }
        return (written, failed, failure)
    }

    private func path(_ stream: String, _ date: String) -> String { StreamPaths.recording(stream, date: date, in: directory) }

    private func openFile(_ stream: StreamID, names: [String], keepsConfidence: [Bool], date: String, files: inout [StreamID: OpenFile],
                          failure: inout String?) -> OpenFile? {
        if let file = files[stream], file.date == date { return file }
        if let old = files.removeValue(forKey: stream), fclose(old.handle) != 0 {
            // The old day's file was flushed at the end of the last batch; closing it rarely fails.
            failure = failure ?? "cannot close \(path(names[Int(stream)], old.date)): \(systemErrorText())"
        }
        let name = names[Int(stream)]
        let folder = StreamPaths.recordings(name, in: directory)
        do { try FileSystem.createDirectory(folder) } catch {
            failure = failure ?? "\(error)"
            return nil
        }
        let filePath = path(name, date)
        guard let handle = fopen(filePath, "a+") else {
            failure = failure ?? "cannot open \(filePath): \(systemErrorText())"
            return nil
        }
        fseek(handle, 0, SEEK_END)
        var withConfidence = keepsConfidence[Int(stream)]
        if ftell(handle) == 0 {
            fputs(withConfidence ? "t,x,y,confidence\n" : "t,x,y\n", handle)
        } else {
            // An existing file keeps the layout its header says.
            fseek(handle, 0, SEEK_SET)
            var header = [CChar](repeating: 0, count: 20)
            withConfidence = fgets(&header, Int32(header.count), handle) != nil
                && String(decoding: header.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) == "t,x,y,confidence\n"
            fseek(handle, 0, SEEK_END)
        }
        if ftell(handle) > 0, fseek(handle, -1, SEEK_END) == 0, fgetc(handle) != Int32(UInt8(ascii: "\n")) {
            // A line cut short (a crash, a full disk) is ended here, so the next sample is whole.
            fputc(Int32(UInt8(ascii: "\n")), handle)
        }
        // C requires a positioning call between reading (fgetc) and writing on an update
        // stream; "a+" appends wherever the position is, but only after this.
        fseek(handle, 0, SEEK_END)
        let file = OpenFile(handle: handle, date: date, withConfidence: withConfidence)
        files[stream] = file
        return file
    }

    /// `t,x,y\n` (or `t,x,y,confidence\n`) in shortest round-trip form, NaN as `nan`, formatted
    /// straight into `line` (no String made: on a 2-core machine this thread shares the CPU with
    /// the sample path).
    private static func appendCSV(_ record: Record, withConfidence: Bool, to line: inout [UInt8]) {
        ASCIISink.append(to: &line) { sink in
            record.time.write(to: &sink)
            sink.append(",")
            record.x.write(to: &sink)
            sink.append(",")
            record.y.write(to: &sink)
            if withConfidence {
                sink.append(",")
                record.confidence.write(to: &sink)
            }
            sink.append("\n")
        }
    }
}
