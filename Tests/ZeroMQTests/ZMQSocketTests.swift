import Foundation
import Testing
import ZeroMQ

@Suite struct ZMQSocketTests {
    static func ipc(_ name: String) -> String { "ipc:///tmp/gazefilter-zmq-\(getpid())-\(name)-\(UInt32.random(in: 0...UInt32.max))" }

    @Test func pushPullCarriesMultipartFramesIntact() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context, type: .pull)
        try pull.bind("tcp://127.0.0.1:*")
        let endpoint = try pull.lastEndpoint
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:") && !endpoint.hasSuffix("*"))
        let push = try ZMQSocket(context, type: .push)
        try push.connect(endpoint)
        try pull.setReceiveTimeout(milliseconds: 5000)
        #expect(try push.sendMultipart([Array("topic".utf8), [0, 1, 2, 255], []]))
        #expect(try pull.receiveMultipart() == [Array("topic".utf8), [0, 1, 2, 255], []])
    }

    @Test func subscriberSeesOnlyItsPrefixAndReusesOneMessage() throws {
        let context = try ZMQContext()
        let endpoint = Self.ipc("pubsub")
        let publisher = try ZMQSocket(context, type: .publisher)
        try publisher.bind(endpoint)
        let subscriber = try ZMQSocket(context, type: .subscriber)
        try subscriber.subscribe("gaze.clean.")
        try subscriber.connect(endpoint)
        try subscriber.setReceiveTimeout(milliseconds: 20)
        // Slow joiner: publish until the subscription has arrived (bounded).
        var joined = false
        for _ in 0..<500 where !joined {
            try publisher.send("gaze.clean.join", flags: .sendMore)
            try publisher.send("x")
            joined = try subscriber.receiveMultipart() != nil
        }
        #expect(joined)
        try subscriber.setReceiveTimeout(milliseconds: 200)
        while try subscriber.receiveMultipart() != nil {}
        for i in 0..<100 {
            try publisher.send("gaze.raw.other", flags: .sendMore); try publisher.send("ignored")
            try publisher.send("gaze.clean.s", flags: .sendMore); try publisher.send("\(i)")
        }
        let message = ZMQMessage()
        try subscriber.setReceiveTimeout(milliseconds: 5000)
        for i in 0..<100 {
            #expect(try subscriber.receive(into: message))
            #expect(message.bytes == Array("gaze.clean.s".utf8) && message.hasMore)
            #expect(try subscriber.receive(into: message))
            #expect(message.bytes == Array("\(i)".utf8) && !message.hasMore)
        }
    }

    @Test func optionsRoundTripAndTimeoutsReturnFalse() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .pull)
        try socket.setReceiveHighWaterMark(1234)
        try socket.setSendHighWaterMark(4321)
        #expect(try socket.receiveHighWaterMark == 1234 && socket.sendHighWaterMark == 4321)
        try socket.bind(Self.ipc("timeout"))
        #expect(try socket.receive(into: ZMQMessage(), flags: .dontWait) == false)
        try socket.setReceiveTimeout(milliseconds: 30)
        #expect(try socket.receiveMultipart() == nil)
        #expect(try ZMQ.poll([(socket, .readable)], timeoutMilliseconds: 10) == [[]])
    }

    @Test func errorsAreTypedAndNamed() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .publisher)
        #expect(throws: ZMQError.protocolNotSupported) { try socket.bind("nope://here") }
        do { try socket.bind("nope://here") } catch {
            #expect(error.description.hasPrefix("zmq_bind: ") && error.description.count > "zmq_bind: ".count)
        }
        try socket.bind("tcp://127.0.0.1:*")
        let endpoint = try socket.lastEndpoint
        let second = try ZMQSocket(context, type: .publisher)
        #expect(throws: ZMQError.addressInUse) { try second.bind(endpoint) }
        socket.close()
        #expect(throws: ZMQError.notSocket) { try socket.send("x") }
    }

    @Test func pollReportsAReadableSocket() throws {
        let context = try ZMQContext()
        let endpoint = Self.ipc("poll")
        let pull = try ZMQSocket(context, type: .pull), push = try ZMQSocket(context, type: .push)
        try pull.bind(endpoint)
        try push.connect(endpoint)
        try push.send("ping")
        #expect(try ZMQ.poll([(pull, .readable)], timeoutMilliseconds: 5000) == [.readable])
        #expect(try pull.receiveString() == "ping")
        let poller = try ZMQPoller([(pull, .readable)])
        #expect(try poller.poll(timeoutMilliseconds: 10) == 0 && poller.events(at: 0).isEmpty)
        try push.send("again")
        #expect(try poller.poll(timeoutMilliseconds: 5000) == 1 && poller.events(at: 0) == .readable)
    }

    @Test func curveEncryptsARequestReply() throws {
        #expect(ZMQ.hasCapability("curve"))
        let server = try ZMQ.curveKeyPair(), client = try ZMQ.curveKeyPair()
        #expect(server.publicKey.count == 40 && server.secretKey.count == 40 && server.publicKey != client.publicKey)
        let context = try ZMQContext()
        let reply = try ZMQSocket(context, type: .reply)
        try reply.makeCurveServer(secretKey: server.secretKey)
        try reply.bind("tcp://127.0.0.1:*")
        let request = try ZMQSocket(context, type: .request)
        try request.makeCurveClient(serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey)
        try request.connect(try reply.lastEndpoint)
        try reply.setReceiveTimeout(milliseconds: 5000)
        try request.setReceiveTimeout(milliseconds: 5000)
        try request.send("hello")
        #expect(try reply.receiveString() == "hello")
        try reply.send("world")
        #expect(try request.receiveString() == "world")
    }

    @Test func shutdownUnblocksAReceiveInAnotherThread() throws {
        let context = try ZMQContext()
        let finished = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var outcome: ZMQError?
        let thread = Thread {
            do {
                let socket = try ZMQSocket(context, type: .pull)
                try socket.bind("inproc://blocked")
                _ = try socket.receive(into: ZMQMessage())
            } catch { outcome = error as? ZMQError }
            finished.signal()
        }
        thread.start()
        usleep(100_000)
        context.shutdown()
        #expect(finished.wait(timeout: .now() + 5) == .success)
        #expect(outcome == .terminated)
    }

    @Test func versionIsFourPointThree() {
        #expect(ZMQ.version.major == 4 && ZMQ.version.minor >= 3)
    }
}
