#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Appends every raw sample of every stream to `DIR/<stream>/<UTC date>.csv` (header `t,x,y`,
/// or `t,x,y,confidence` for a stream registered to keep its confidence, as a Pupil stream or
/// one whose loss rule reads confidence must, so the refit can apply the same rule; a
/// binocular stream's `t,lx,ly,rx,ry[,left_confidence,right_confidence]`: `RecordingLayout`), off the
/// sample path: `append` only copies a few numbers into a queue under a lock; a writer thread
/// formats them and writes each stream's lines of a batch with one `write`, at least once per
/// `flushInterval`. A file keeps the layout its header says, even if the stream's registration
/// changed since it was begun.
///
/// Bounds: at most `maximumOpenFiles` files are open at once (the least recently written
/// quarter is closed to open others), so descriptors never run out however many streams there are;
/// `release` closes a stream's file and frees its slot for another stream, so the slots stay
/// bounded by the streams alive at once, not by every name ever seen.
///
/// Integrity: each file holds whole lines only (`RecordingFile`): a write that fails midway is
/// truncated back to the last whole line, and a cut line left by a kill is dropped when the
/// file is next opened. A failing disk (full, read-only, removed) is reported through `report`
/// (at most once per ten seconds) and counted; the samples of a failed write are lost for the
/// recording, the file is reopened for the next batch, and the filter goes on.
public final class RecordingWriter: Sendable {
    /// Identifies a registered stream cheaply on the sample path.
    public typealias StreamID = Int32

    /// What the recorder has done, for statistics.
    public struct Statistics: Sendable, Equatable {
        /// Samples written to the operating system without error.
        public var written: UInt64 = 0
        /// Samples that could not be written (disk errors); none of them is in a file.
        public var failed: UInt64 = 0
        /// Samples waiting in the queue at the last look.
        public var pending: Int = 0
        /// Files open at the last batch.
        public var openFiles: Int = 0
    }

    private struct Record {
        /// The stream; a negative value `-1 - id` releases stream `id` (its file is closed and
        /// its slot freed) instead of carrying a sample.
        var stream: StreamID
        var time: Double, x: Double, y: Double, confidence: Double
        var rx = Double.nan, ry = Double.nan, rightConfidence = Double.nan
    }

    private struct Queue {
        var records: [Record] = []
        /// Each slot's stream name; nil once released and closed (free for reuse).
        var streams: [String?] = []
        /// The slot of each registered name.
        var slots: [String: StreamID] = [:]
        /// Each slot's layout for new files (binocular or not, with confidence or not).
        var layouts: [RecordingLayout] = []
        /// Slots whose release the writer has finished, ready for reuse.
        var free: [StreamID] = []
        var namesVersion = 0
        var closing = false
        /// When closing: the monotonic time by which the writer stops, written or not.
        var deadline = Double.infinity
        var statistics = Statistics()
    }

    /// The recordings' root directory.
    public let directory: String
    /// The most files open at once.
    public let maximumOpenFiles: Int
    private let flushInterval: Double
    private let queue: Mutex<Queue>
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let report: @Sendable (String) -> Void

    /// Starts a recorder under `directory` (created if missing), keeping at most
    /// `maximumOpenFiles` files open.
    /// - Throws: `GazeFileError` when the directory cannot be created.
    public init(directory: String, flushInterval: Double = 0.25, maximumOpenFiles: Int = 256,
                report: @escaping @Sendable (String) -> Void) throws(GazeFileError) {
        do { try FileSystem.createDirectory(directory) } catch {
            throw GazeFileError(path: directory, "cannot create the recording directory: \(error)")
        }
        self.directory = directory
        self.flushInterval = flushInterval
        self.maximumOpenFiles = max(1, maximumOpenFiles)
        self.report = report
        var initial = Queue()
        initial.records.reserveCapacity(1 << 16)
        self.queue = Mutex(initial)
        let thread = Thread { [self] in writerLoop() }
        thread.name = "gazefilterd-recorder"
        thread.start()
    }

    /// Registers a stream by name (the name must be safe as a directory name); a name already
    /// registered and not released gets its slot back. With `keepsConfidence`, its new files
    /// have a confidence column (per eye when `binocular`); a binocular stream's files keep both eyes.
    public func register(stream name: String, keepsConfidence: Bool = false, binocular: Bool = false) -> StreamID {
        let layout = RecordingLayout(binocular: binocular, withConfidence: keepsConfidence)
        return queue.withLock { queue in
            if let existing = queue.slots[name] { return existing }
            queue.namesVersion += 1
            let slot: StreamID
            if let reused = queue.free.popLast() {
                slot = reused
                queue.streams[Int(slot)] = name
                queue.layouts[Int(slot)] = layout
            } else {
                slot = StreamID(queue.streams.count)
                queue.streams.append(name)
                queue.layouts.append(layout)
            }
            queue.slots[name] = slot
            return slot
        }
    }

    /// Ends a stream's recording for now: its queued samples are written, its file closed, and
    /// its slot freed once that is done. Registering the name again later appends to its file.
    public func release(_ stream: StreamID) {
        queue.withLock { $0.records.append(Record(stream: -1 - stream, time: 0, x: 0, y: 0, confidence: 0)) }
    }

    /// Queues one raw sample (masked ones too, exactly as received; `confidence` NaN when the
    /// source gave none).
    @inline(__always)
    public func append(_ stream: StreamID, time: Double, x: Double, y: Double, confidence: Double = .nan) {
        queue.withLock { $0.records.append(Record(stream: stream, time: time, x: x, y: y, confidence: confidence)) }
    }

    /// Queues one raw sample as decoded, both eyes of a binocular one.
    @inline(__always)
    public func append(_ stream: StreamID, _ sample: RawGazeSample) {
        queue.withLock {
            $0.records.append(Record(stream: stream, time: sample.t, x: sample.x, y: sample.y, confidence: sample.confidence,
                                     rx: sample.rx, ry: sample.ry, rightConfidence: sample.rightConfidence))
        }
    }

    /// Counters so far.
    public var statistics: Statistics {
        queue.withLock { queue in
            var statistics = queue.statistics
            statistics.pending = queue.records.count
            return statistics
        }
    }

    /// Writes everything queued, closes the files and stops the thread. Idempotent.
    ///
    /// Stopping is bounded by `within` seconds whatever the backlog (a disk slow to create
    /// thousands of new files must not hold SIGTERM past its second): what is not written by
    /// then is counted as failed and reported, never half-written.
    public func close(within seconds: Double = .infinity) {
        let alreadyClosing = queue.withLock { queue -> Bool in
            defer {
                queue.closing = true
                queue.deadline = monotonicSeconds() + seconds
            }
            return queue.closing
        }
        guard !alreadyClosing else { return }
        wake.signal()
        finished.wait()
    }

    // MARK: Writer thread

    /// The writer thread's own state.
    private struct Files {
        var open: [StreamID: RecordingFile] = [:]
        var names: [String?] = []
        var layouts: [RecordingLayout] = []
        var namesVersion = -1
        var clock: UInt64 = 0
        /// Each stream's samples of the current batch, arrays kept between batches.
        var pending: [StreamID: [Record]] = [:]
        /// The lines of one stream being written, reused.
        var line: [UInt8] = []
        var order: [StreamID] = []
    }

    private func writerLoop() {
        var batch: [Record] = []
        batch.reserveCapacity(1 << 16)
        var files = Files()
        var lastReport = -Double.infinity
        while true {
            _ = wake.wait(timeout: .now() + flushInterval)
            let (closing, deadline) = queue.withLock { queue -> (Bool, Double) in
                swap(&queue.records, &batch)
                if files.namesVersion != queue.namesVersion {
                    files.names = queue.streams
                    files.layouts = queue.layouts
                    files.namesVersion = queue.namesVersion
                }
                return (queue.closing, queue.deadline)
            }
            if !batch.isEmpty {
                let (written, failed, failure, released) = writeBatch(batch, files: &files, deadline: deadline)
                batch.removeAll(keepingCapacity: true)
                let openFiles = files.open.count
                queue.withLock { queue in
                    queue.statistics.written += written
                    queue.statistics.failed += failed
                    queue.statistics.openFiles = openFiles
                    for slot in released where queue.streams.indices.contains(Int(slot)) {
                        if let name = queue.streams[Int(slot)] { queue.slots[name] = nil }
                        queue.streams[Int(slot)] = nil
                        queue.free.append(slot)
                        queue.namesVersion += 1
                    }
                }
                if let failure {
                    let now = monotonicSeconds()
                    if now - lastReport >= 10 {
                        report("recording: \(failure) (samples not recorded so far: \(statistics.failed))")
                        lastReport = now
                    }
                }
            }
            if closing {
                let (empty, late) = queue.withLock { queue -> (Bool, Bool) in
                    let late = monotonicSeconds() > queue.deadline
                    if late {
                        queue.statistics.failed += UInt64(queue.records.count)
                        queue.records.removeAll()
                    }
                    return (queue.records.isEmpty, late)
                }
                if late { report("recording: stopped before everything was written (samples not recorded: \(statistics.failed))") }
                if empty { break }
            }
        }
        // Everything was written already; what remains is closing. No fsync: the lines are in
        // the kernel's cache, which outlives the process, and syncing thousands of files (or
        // the file system) could take longer than the second a stop may take.
        // Failures here are always reported (the process is about to stop).
        var failures: [String] = []
        for (stream, file) in files.open where !file.close() {
            failures.append("cannot close \(path(files.names[Int(stream)] ?? "?", file.date)): \(systemErrorText())")
        }
        if !failures.isEmpty {
            report("recording: at shutdown: \(failures.joined(separator: "; ")) (samples not recorded: \(statistics.failed))")
        }
        finished.signal()
    }

    /// Groups one batch by stream, then formats each stream's samples in its file's layout and
    /// writes them with one `write`.
    /// - Returns: samples written and failed, the first failure's description, and the slots
    ///   released in this batch (their files closed).
    private func writeBatch(_ batch: [Record], files: inout Files, deadline: Double) -> (written: UInt64, failed: UInt64, failure: String?, released: [StreamID]) {
        let date = UTCCalendar.day()
        var written: UInt64 = 0, failed: UInt64 = 0
        var failure: String?
        var released: [StreamID] = []
        files.order.removeAll(keepingCapacity: true)
        /// Writes out what is gathered for `stream`.
        func flush(_ stream: StreamID) {
            guard let records = files.pending[stream], !records.isEmpty else { return }
            let count = UInt64(records.count)
            files.pending[stream]?.removeAll(keepingCapacity: true)
            guard let name = files.names.indices.contains(Int(stream)) ? files.names[Int(stream)] : nil,
                  deadline == .infinity || monotonicSeconds() < deadline else {
                failed += count
                return
            }
            do {
                var file = try openFile(stream, name: name, date: date, files: &files)
                files.line.removeAll(keepingCapacity: true)
                for record in records { Self.appendCSV(record, layout: file.layout, to: &files.line) }  // the file's own layout
                var bytes = files.line[...]
                if file.append(&bytes) {
                    written += count
                    files.open[stream] = file
                } else {
                    failure = failure ?? "cannot write \(path(name, date)): \(systemErrorText())"
                    failed += count
                    _ = file.close()  // reopened (and checked) for the next batch
                    files.open[stream] = nil
                }
            } catch {
                failure = failure ?? error.description
                failed += count
            }
        }
        for record in batch {
            if record.stream < 0 {  // a release
                let stream = -1 - record.stream
                flush(stream)
                if let file = files.open.removeValue(forKey: stream), !file.close() {
                    failure = failure ?? "cannot close \(path(files.names[Int(stream)] ?? "?", file.date)): \(systemErrorText())"
                }
                files.pending[stream] = nil
                released.append(stream)
                continue
            }
            if files.pending[record.stream]?.isEmpty ?? true { files.order.append(record.stream) }
            files.pending[record.stream, default: []].append(record)
        }
        for stream in files.order { flush(stream) }
        return (written, failed, failure, released)
    }

    private func path(_ stream: String, _ date: String) -> String { StreamPaths.recording(stream, date: date, in: directory) }

    /// The stream's open file for `date`, opening it (and closing the least recently used file
    /// when `maximumOpenFiles` are open, or the stream's file of an earlier day).
    private func openFile(_ stream: StreamID, name: String, date: String, files: inout Files) throws(GazeFileError) -> RecordingFile {
        files.clock += 1
        if var file = files.open[stream] {
            if file.date == date {
                file.lastUse = files.clock
                return file
            }
            files.open[stream] = nil
            _ = file.close()  // the old day's lines are all written
        }
        if files.open.count >= maximumOpenFiles {
            // Close the least recently written quarter at once: one sort per many opens, so a
            // flood of streams costs O(log n) per open rather than a scan of every open file.
            let oldest = files.open.sorted { $0.value.lastUse < $1.value.lastUse }.prefix(max(1, maximumOpenFiles / 4))
            for (stream, file) in oldest {
                files.open[stream] = nil
                _ = file.close()
            }
        }
        try FileSystem.createDirectory(StreamPaths.recordings(name, in: directory))
        let index = Int(stream)
        var file = try RecordingFile(path: path(name, date), date: date,
                                     layout: files.layouts.indices.contains(index) ? files.layouts[index] : .monocular)
        file.lastUse = files.clock
        return file
    }

    /// One line in `layout` (`t,x,y\n`, `t,x,y,confidence\n`, `t,lx,ly,rx,ry\n`, …) in shortest
    /// round-trip form, NaN as `nan`, formatted straight into `line` (no String made: on a
    /// 2-core machine this thread shares the CPU with the sample path).
    private static func appendCSV(_ record: Record, layout: RecordingLayout, to line: inout [UInt8]) {
        ASCIISink.append(to: &line) { sink in
            record.time.write(to: &sink)
            sink.append(",")
            record.x.write(to: &sink)
            sink.append(",")
            record.y.write(to: &sink)
            if layout.binocular {
                sink.append(",")
                record.rx.write(to: &sink)
                sink.append(",")
                record.ry.write(to: &sink)
            }
            if layout.withConfidence {
                sink.append(",")
                record.confidence.write(to: &sink)
                if layout.binocular {
                    sink.append(",")
                    record.rightConfidence.write(to: &sink)
                }
            }
            sink.append("\n")
        }
    }
}
