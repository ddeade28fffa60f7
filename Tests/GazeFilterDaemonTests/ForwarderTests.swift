#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import Testing
import ZeroMQ
import _TestSupport

/// More trackers than one daemon serves: two real daemons behind one input forwarder, each
/// given half of the streams by subscription prefix, publishing through a second forwarder.
/// The forwarders are plain zmq_proxy (scripts/zmq-forwarder), nothing of ours in between.
@Suite(.serialized) struct ForwarderTests {
    @Test func twoDaemonsSplitTheStreamsAndEverySampleIsFilteredOnce() throws {
        let directory = makeTemporaryDirectory("gfd-fwd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (inFront, inBack) = ("ipc://\(directory)/in-front", "ipc://\(directory)/in-back")
        let (outFront, outBack) = ("ipc://\(directory)/out-front", "ipc://\(directory)/out-back")
        let inputForwarder = try StandInProcess(script: "scripts/zmq-forwarder", arguments: ["--frontend", inFront, "--backend", inBack],
                                                errorPath: directory + "/fwd-in.err")
        let outputForwarder = try StandInProcess(script: "scripts/zmq-forwarder", arguments: ["--frontend", outFront, "--backend", outBack],
                                                 errorPath: directory + "/fwd-out.err")
        #expect(inputForwarder.line(startingWith: "forwarding") != nil, "\(inputForwarder.errors)")
        #expect(outputForwarder.line(startingWith: "forwarding") != nil, "\(outputForwarder.errors)")

        var daemons: [DaemonProcess] = []
        for (name, prefix) in [("east", "lab-east."), ("west", "lab-west.")] {
            let dir = directory + "/" + name
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            daemons.append(try DaemonProcess(directory: dir, arguments: [
                "--params", packageRoot + "/config/params/default.json", "--stats-interval", "0.2",
                "--input-connect", "--output-connect", "--subscribe", prefix], inputEndpoint: inBack, outputEndpoint: outFront))
        }

        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, type: .extendedPublisher)
        try publisher.setSendHighWaterMark(0)
        try publisher.setLinger(milliseconds: 2000)
        try publisher.connect(inFront)
        // Both daemons' subscriptions come up through the forwarder.
        try publisher.setReceiveTimeout(milliseconds: 10_000)
        var subscriptions = Set<String>()
        while subscriptions.count < 2, let frames = try publisher.receiveMultipart() {
            if frames[0].first == 1 { subscriptions.insert(String(decoding: frames[0].dropFirst(), as: UTF8.self)) }
        }
        #expect(subscriptions == ["gaze.raw.lab-east.", "gaze.raw.lab-west."])

        let subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.setReceiveHighWaterMark(0)
        try subscriber.subscribe("gaze.clean.")
        try subscriber.connect(outBack)
        try subscriber.setReceiveTimeout(milliseconds: 50)
        // Probe each daemon until its estimates reach us through the output forwarder.
        var probed = Set<String>(), probe = 0.0
        while probed.count < 2 && probe < 400 {
            for side in ["lab-east.probe", "lab-west.probe"] where !probed.contains(side) {
                _ = try publisher.sendMultipart([Array("gaze.raw.\(side)".utf8), Array("{\"t\": \(probe), \"x\": 1, \"y\": 1}".utf8)])
            }
            probe += 1
            while let frames = try subscriber.receiveMultipart() { probed.insert(String(decoding: frames[0].dropFirst("gaze.clean.".count), as: UTF8.self)) }
        }
        #expect(probed == ["lab-east.probe", "lab-west.probe"])

        // Four trackers, two per daemon, plus one no daemon serves.
        let streams = ["lab-east.1", "lab-east.2", "lab-west.1", "lab-west.2", "lab-north.1"]
        let count = 500
        for i in 0..<count {
            for stream in streams {
                let json = "{\"t\": \(Double(i) / 250), \"x\": \(500 + i % 40), \"y\": \(i % 7 == 3 ? -1 : 300 + i % 30)}"
                _ = try publisher.sendMultipart([Array("gaze.raw.\(stream)".utf8), Array(json.utf8)])
            }
        }
        try subscriber.setReceiveTimeout(milliseconds: 3000)
        var sequences: [String: [Int]] = [:]
        while sequences.values.reduce(0, { $0 + $1.count }) < 4 * count, let frames = try subscriber.receiveMultipart() {
            let name = String(decoding: frames[0].dropFirst("gaze.clean.".count), as: UTF8.self)
            guard !name.hasSuffix("probe") else { continue }
            sequences[name, default: []].append(Int(try JSONValue.parse(Data(frames[1])).object?["seq"]?.number ?? -1))
        }
        // Every sample of every served stream filtered exactly once, in order; the unserved one nowhere.
        for stream in streams.prefix(4) { #expect(sequences[stream] == Array(1...count), "stream \(stream): \(sequences[stream]?.count ?? 0) estimates") }
        #expect(sequences["lab-north.1"] == nil)

        // Each daemon filtered only its half (its statistics name only its streams).
        for (daemon, side) in zip(daemons, ["lab-east.", "lab-west."]) {
            #expect(daemon.terminate()?.status == 0)
            #expect(daemon.log.contains("listening for gaze.raw.\(side)*"))
            let other = side == "lab-east." ? "lab-west." : "lab-east."
            #expect(!daemon.log.contains("new stream \(other)"), "\(daemon.log)")
            #expect(daemon.log.contains("new stream \(side)1") && daemon.log.contains("new stream \(side)2"))
        }
        for forwarder in [inputForwarder, outputForwarder] { forwarder.process.terminate() }
    }
}
