#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import Synchronization
import Testing
import ZeroMQ
import _TestSupport

/// A hostile or broken Pupil backbone against the real daemon under a memory limit: truncated
/// msgpack, lengths claiming gigabytes, deep nesting, a topic without a payload and a frame over
/// the 1 MiB cap. Each malformed message is counted and nothing else happens: the good datums
/// around them are filtered, other streams flow, the daemon stays within its memory.
@Suite(.serialized) struct PupilHostileInputTests {
    /// Pupil Remote answering SUB_PORT from a thread, as long as the test needs it.
    final class Remote: @unchecked Sendable {
        let socket: ZMQSocket
        let stopped = Atomic<Bool>(false)
        init(context: ZMQContext, endpoint: String, answer: String) throws {
            socket = try ZMQSocket(context, type: .reply)
            try socket.bind(endpoint)
            try socket.setReceiveTimeout(milliseconds: 100)
            Thread { [self] in
                while !stopped.load(ordering: .relaxed) {
                    if let request = try? socket.receiveString() { _ = try? socket.send(request == "SUB_PORT" ? answer : "Unknown command.") }
                }
                socket.close()
            }.start()
        }
    }

    static func datum(t: Double) -> [UInt8] {
        var w = MessagePackWriter()
        w.mapHeader(3)
        w.string("norm_pos"); w.arrayHeader(2); w.double(0.5); w.double(0.5)
        w.string("confidence"); w.double(0.9)
        w.string("timestamp"); w.double(t)
        return w.bytes
    }

    @Test func malformedAndOversizedMessagesAreCountedAndHarmless() throws {
        let directory = makeTemporaryDirectory("gfd-pupil-hostile")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let context = try ZMQContext()
        let backbone = try ZMQSocket(context, type: .extendedPublisher)
        try backbone.setSendHighWaterMark(0)
        try backbone.bind("tcp://127.0.0.1:*")
        let backbonePort = try backbone.lastEndpoint.split(separator: ":").last.map(String.init) ?? ""
        let remotePort = Int.random(in: 20_000...60_000)
        let remote = try Remote(context: context, endpoint: "tcp://127.0.0.1:\(remotePort)", answer: backbonePort)
        defer { remote.stopped.store(true, ordering: .relaxed) }
        try """
            {"params": "\(packageRoot)/config/params/default.json", "stats_interval_s": 0.2,
             "streams": {"eyes": {"pupil_remote": "tcp://127.0.0.1:\(remotePort)", "pupil_topic": "gaze."}}}
            """.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(directory: directory, arguments: ["--config", directory + "/config.json"], memoryLimitKiB: 2_000_000)
        let client = try GazeTestClient(daemon: daemon)
        try backbone.setReceiveTimeout(milliseconds: 20_000)
        #expect(try backbone.receiveMultipart()?.first == [1] + Array("gaze.".utf8))  // the daemon subscribed

        let topic = Array("gaze.3d.01.".utf8)
        var deep = MessagePackWriter()
        deep.mapHeader(1); deep.string("base_data"); for _ in 0..<40 { deep.arrayHeader(1) }; deep.null()
        let valid = Self.datum(t: 1)
        let hostile: [[[UInt8]]] = [
            [topic, Array(valid.prefix(valid.count / 2))],                              // truncated
            [topic, [0x81, 0xA1, 0x78, 0xDD, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0]],            // array of 4 billion claimed
            [topic, [0x81, 0xA1, 0x78, 0xDB, 0xFF, 0xFF, 0xFF, 0xFF, 0x41]],            // 4 GB string claimed
            [topic, deep.bytes],                                                       // nested 40 deep
            [topic],                                                                   // no payload
            [topic, [0xC1]],                                                           // never-used byte
        ]
        var sent = 0
        for (index, frames) in hostile.enumerated() {
            _ = try backbone.sendMultipart([topic, Self.datum(t: Double(index) * 0.01)])
            _ = try backbone.sendMultipart(frames)
            sent += 1
        }
        for index in hostile.count..<(hostile.count + 20) { _ = try backbone.sendMultipart([topic, Self.datum(t: Double(index) * 0.01)]) }
        let estimates = try client.receive(count: hostile.count + 20) { $0 == "gaze.clean.eyes" }
        #expect(estimates.count == hostile.count + 20)
        var malformed = 0.0
        let deadline = Date().addingTimeInterval(10)
        while malformed < 5 && Date() < deadline, let stats = try client.receive(count: 1, where: { $0 == "gaze.stats" }).first {
            let object = try JSONValue.parse(Data(stats.payload)).object
            malformed = (object?["streams"]?.object?["eyes"]?.object?["malformed"]?.number ?? 0) + (object?["malformed_unattributed"]?.number ?? 0)
        }
        #expect(malformed == Double(sent), "\(daemon.log)")

        // A frame over the 1 MiB cap: libzmq drops the connection unread; the daemon goes on.
        _ = try backbone.sendMultipart([topic, [UInt8](repeating: 0xC0, count: 2 << 20)])
        try client.publish(stream: "json", json: #"{"t": 0, "x": 1, "y": 2}"#)
        #expect(try client.receive(count: 1) { $0 == "gaze.clean.json" }.count == 1)
        #expect(daemon.terminate()?.status == 0, "\(daemon.log)")
    }
}
