import CZeroMQ

/// The kind of a socket (`ZMQ_PUB`, `ZMQ_SUB`, …).
public struct SocketType: RawRepresentable, Hashable, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// ZMQ_PUB
    public static let publisher = SocketType(rawValue: ZMQ_PUB)
    /// ZMQ_SUB
    public static let subscriber = SocketType(rawValue: ZMQ_SUB)
    /// ZMQ_XPUB
    public static let extendedPublisher = SocketType(rawValue: ZMQ_XPUB)
    /// ZMQ_XSUB
    public static let extendedSubscriber = SocketType(rawValue: ZMQ_XSUB)
    /// ZMQ_PUSH
    public static let push = SocketType(rawValue: ZMQ_PUSH)
    /// ZMQ_PULL
    public static let pull = SocketType(rawValue: ZMQ_PULL)
    /// ZMQ_PAIR
    public static let pair = SocketType(rawValue: ZMQ_PAIR)
    /// ZMQ_REQ
    public static let request = SocketType(rawValue: ZMQ_REQ)
    /// ZMQ_REP
    public static let reply = SocketType(rawValue: ZMQ_REP)
    /// ZMQ_DEALER
    public static let dealer = SocketType(rawValue: ZMQ_DEALER)
    /// ZMQ_ROUTER
    public static let router = SocketType(rawValue: ZMQ_ROUTER)
}

/// Flags for sending (`ZMQ_DONTWAIT`, `ZMQ_SNDMORE`).
public struct SendFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// ZMQ_DONTWAIT: fail with EAGAIN instead of blocking.
    public static let dontWait = SendFlags(rawValue: ZMQ_DONTWAIT)
    /// ZMQ_SNDMORE: more frames of this message follow.
    public static let sendMore = SendFlags(rawValue: ZMQ_SNDMORE)
}

/// Flags for receiving (`ZMQ_DONTWAIT`).
public struct ReceiveFlags: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// ZMQ_DONTWAIT: return at once when nothing is queued.
    public static let dontWait = ReceiveFlags(rawValue: ZMQ_DONTWAIT)
}

/// A libzmq socket (`zmq_socket`). Not `Sendable`: a zmq socket belongs to the thread
/// that uses it; make it on that thread. Closed by `close()` or when released.
///
/// Sending and receiving report "would block" (EAGAIN, including a timeout) by returning
/// false, so that loops need no `catch`; every other failure throws `ZMQError`.
public final class ZMQSocket {
    private var handle: UnsafeMutableRawPointer?
    /// The context it was made from (kept alive while the socket lives).
    public let context: ZMQContext
    /// Its type.
    public let type: SocketType

    /// A new socket of `type` in `context` (`zmq_socket`). Linger defaults to 0 here (not
    /// libzmq's infinite), so closing never hangs on unsent messages; set it to keep them.
    public init(_ context: ZMQContext, type: SocketType) throws(ZMQError) {
        guard let handle = Calls.socket(context.handle, type.rawValue) else {
            throw ZMQError(code: Calls.lastError(), function: "zmq_socket")
        }
        self.handle = handle
        self.context = context
        self.type = type
        try setOption(ZMQ_LINGER, 0)
    }

    deinit { close() }

    /// Closes the socket (`zmq_close`); later calls throw `.notSocket`. Idempotent.
    public func close() {
        if let handle { _ = Calls.close(handle) }
        handle = nil
    }

    @inline(__always) func socket(_ function: StaticString) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, function: function) }
        return handle
    }

    // MARK: Endpoints

    /// Binds to an endpoint such as `tcp://127.0.0.1:5555`, `tcp://127.0.0.1:*` or `ipc:///run/x` (`zmq_bind`).
    public func bind(_ endpoint: String) throws(ZMQError) {
        let s = try socket("zmq_bind")
        _ = try checked("zmq_bind") { Calls.bind(s, endpoint) }
    }

    /// Connects to an endpoint (`zmq_connect`); connection happens in the background.
    public func connect(_ endpoint: String) throws(ZMQError) {
        let s = try socket("zmq_connect")
        _ = try checked("zmq_connect") { Calls.connect(s, endpoint) }
    }

    /// Stops listening on a bound endpoint (`zmq_unbind`).
    public func unbind(_ endpoint: String) throws(ZMQError) {
        let s = try socket("zmq_unbind")
        _ = try checked("zmq_unbind") { Calls.unbind(s, endpoint) }
    }

    /// Disconnects from an endpoint (`zmq_disconnect`).
    public func disconnect(_ endpoint: String) throws(ZMQError) {
        let s = try socket("zmq_disconnect")
        _ = try checked("zmq_disconnect") { Calls.disconnect(s, endpoint) }
    }

    /// The last endpoint bound, with a wildcard port resolved (ZMQ_LAST_ENDPOINT).
    public var lastEndpoint: String {
        get throws(ZMQError) { try stringOption(ZMQ_LAST_ENDPOINT) }
    }

    // MARK: Options

    /// Sets an integer option (`zmq_setsockopt`).
    public func setOption(_ option: Int32, _ value: Int32) throws(ZMQError) {
        let s = try socket("zmq_setsockopt")
        var value = value
        _ = try checked("zmq_setsockopt") { Calls.setOption(s, option, &value, MemoryLayout<Int32>.size) }
    }

    /// Sets a bytes option (`zmq_setsockopt`), e.g. a subscription prefix or a key.
    public func setOption(_ option: Int32, bytes: some Collection<UInt8>) throws(ZMQError) {
        let s = try socket("zmq_setsockopt")
        let array = Array(bytes)
        _ = try checked("zmq_setsockopt") { array.withUnsafeBytes { Calls.setOption(s, option, $0.baseAddress, $0.count) } }
    }

    /// Reads an integer option (`zmq_getsockopt`).
    public func intOption(_ option: Int32) throws(ZMQError) -> Int32 {
        let s = try socket("zmq_getsockopt")
        var value: Int32 = 0, length = MemoryLayout<Int32>.size
        _ = try checked("zmq_getsockopt") { Calls.getOption(s, option, &value, &length) }
        return value
    }

    /// Reads a string option (`zmq_getsockopt`).
    public func stringOption(_ option: Int32) throws(ZMQError) -> String {
        let s = try socket("zmq_getsockopt")
        var buffer = [CChar](repeating: 0, count: 1024)
        var length = buffer.count
        _ = try checked("zmq_getsockopt") { buffer.withUnsafeMutableBytes { Calls.getOption(s, option, $0.baseAddress!, &length) } }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Messages queued for sending before the socket drops or blocks (ZMQ_SNDHWM).
    public var sendHighWaterMark: Int32 {
        get throws(ZMQError) { try intOption(ZMQ_SNDHWM) }
    }
    /// Messages queued on receipt before the socket drops (ZMQ_RCVHWM).
    public var receiveHighWaterMark: Int32 {
        get throws(ZMQError) { try intOption(ZMQ_RCVHWM) }
    }
    /// Sets ZMQ_SNDHWM (0 = unlimited).
    public func setSendHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_SNDHWM, messages) }
    /// Sets ZMQ_RCVHWM (0 = unlimited).
    public func setReceiveHighWaterMark(_ messages: Int32) throws(ZMQError) { try setOption(ZMQ_RCVHWM, messages) }
    /// Sets ZMQ_LINGER in milliseconds (-1 = wait forever on close).
    public func setLinger(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_LINGER, milliseconds) }
    /// Sets ZMQ_RCVTIMEO in milliseconds (-1 = block forever); a timeout makes `receive` return false.
    public func setReceiveTimeout(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_RCVTIMEO, milliseconds) }
    /// Sets ZMQ_SNDTIMEO in milliseconds.
    public func setSendTimeout(milliseconds: Int32) throws(ZMQError) { try setOption(ZMQ_SNDTIMEO, milliseconds) }
    /// Sets ZMQ_IMMEDIATE: queue only to completed connections.
    public func setImmediate(_ on: Bool) throws(ZMQError) { try setOption(ZMQ_IMMEDIATE, on ? 1 : 0) }
    /// Sets ZMQ_MAXMSGSIZE: a peer sending a larger frame is disconnected before it is read
    /// into memory (-1 = no limit).
    public func setMaximumMessageSize(bytes: Int64) throws(ZMQError) {
        try setOption(ZMQ_MAXMSGSIZE, bytes: withUnsafeBytes(of: bytes) { Array($0) })
    }
    /// Subscribes a SUB socket to topics starting with `prefix` (ZMQ_SUBSCRIBE; "" is everything).
    public func subscribe(_ prefix: String) throws(ZMQError) { try setOption(ZMQ_SUBSCRIBE, bytes: Array(prefix.utf8)) }
    /// Removes a subscription (ZMQ_UNSUBSCRIBE).
    public func unsubscribe(_ prefix: String) throws(ZMQError) { try setOption(ZMQ_UNSUBSCRIBE, bytes: Array(prefix.utf8)) }
    /// Makes this socket a CURVE server (ZMQ_CURVE_SERVER) with its secret key (Z85, 40 characters).
    public func makeCurveServer(secretKey: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVER, 1)
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8))
    }
    /// Makes this socket a CURVE client of the server with `serverKey`, using its own key pair (Z85).
    public func makeCurveClient(serverKey: String, publicKey: String, secretKey: String) throws(ZMQError) {
        try setOption(ZMQ_CURVE_SERVERKEY, bytes: Array(serverKey.utf8))
        try setOption(ZMQ_CURVE_PUBLICKEY, bytes: Array(publicKey.utf8))
        try setOption(ZMQ_CURVE_SECRETKEY, bytes: Array(secretKey.utf8))
    }

    /// Sets the ZAP domain (ZMQ_ZAP_DOMAIN) named in this socket's authentication requests.
    public func setZAPDomain(_ domain: String) throws(ZMQError) { try setOption(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8)) }

    /// Publishes this socket's connection events on a PAIR endpoint (`zmq_socket_monitor`,
    /// e.g. `inproc://monitor.input`); read them with `ZMQMonitorEvent.receive`.
    public func monitor(_ endpoint: String, events: ZMQMonitorEvent.Kind) throws(ZMQError) {
        let s = try socket("zmq_socket_monitor")
        _ = try checked("zmq_socket_monitor") { Calls.socketMonitor(s, endpoint, events.rawValue) }
    }

    // MARK: Sending

    /// Sends one frame (`zmq_send`; libzmq copies the bytes).
    /// - Returns: false when it would block (EAGAIN with `.dontWait`, or a send timeout).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, flags: SendFlags = []) throws(ZMQError) -> Bool {
        let s = try socket("zmq_send")
        while true {
            if Calls.send(s, bytes.baseAddress, bytes.count, flags.rawValue) >= 0 { return true }
            let code = Calls.lastError()
            if code == EAGAIN { return false }
            if code != EINTR { throw ZMQError(code: code, function: "zmq_send") }
        }
    }

    /// Sends one frame of bytes.
    @discardableResult
    public func send(_ bytes: [UInt8], flags: SendFlags = []) throws(ZMQError) -> Bool {
        let s = try socket("zmq_send")
        while true {
            let result = bytes.withUnsafeBytes { Calls.send(s, $0.baseAddress, $0.count, flags.rawValue) }
            if result >= 0 { return true }
            let code = Calls.lastError()
            if code == EAGAIN { return false }
            if code != EINTR { throw ZMQError(code: code, function: "zmq_send") }
        }
    }

    /// Sends one frame holding the UTF-8 of `text`.
    @discardableResult
    public func send(_ text: String, flags: SendFlags = []) throws(ZMQError) -> Bool {
        try send(Array(text.utf8), flags: flags)
    }

    /// Sends a multipart message, every frame but the last with ZMQ_SNDMORE.
    @discardableResult
    public func sendMultipart(_ frames: [[UInt8]], flags: SendFlags = []) throws(ZMQError) -> Bool {
        for (index, frame) in frames.enumerated() {
            let more: SendFlags = index < frames.count - 1 ? [.sendMore] : []
            guard try send(frame, flags: flags.union(more)) else { return false }
        }
        return true
    }

    // MARK: Receiving

    /// Receives one frame into a reusable message (`zmq_msg_recv`), allocating nothing.
    /// - Returns: false when nothing arrived (EAGAIN with `.dontWait`, or a receive timeout).
    public func receive(into message: ZMQMessage, flags: ReceiveFlags = []) throws(ZMQError) -> Bool {
        let s = try socket("zmq_msg_recv")
        while true {
            if Calls.messageReceive(message.pointer, s, flags.rawValue) >= 0 { return true }
            let code = Calls.lastError()
            if code == EAGAIN { return false }
            if code == EINTR { continue }
            throw ZMQError(code: code, function: "zmq_msg_recv")
        }
    }

    /// Receives all frames of one message as byte arrays (convenient, allocates).
    /// - Returns: nil when nothing arrived in time.
    public func receiveMultipart(flags: ReceiveFlags = []) throws(ZMQError) -> [[UInt8]]? {
        let message = ZMQMessage()
        guard try receive(into: message, flags: flags) else { return nil }
        var frames = [message.bytes]
        while message.hasMore {
            guard try receive(into: message) else { break }
            frames.append(message.bytes)
        }
        return frames
    }

    /// Receives one frame as UTF-8 text; nil when nothing arrived in time.
    public func receiveString(flags: ReceiveFlags = []) throws(ZMQError) -> String? {
        let message = ZMQMessage()
        guard try receive(into: message, flags: flags) else { return nil }
        return String(decoding: message.bytes, as: UTF8.self)
    }

    /// Whether the last frame received has more parts after it (ZMQ_RCVMORE).
    public var hasMoreParts: Bool {
        get throws(ZMQError) { try intOption(ZMQ_RCVMORE) != 0 }
    }

    /// Whether no message is waiting to be received right now (ZMQ_EVENTS lacks ZMQ_POLLIN).
    public var hasNothingQueued: Bool {
        ((try? intOption(ZMQ_EVENTS)) ?? 0) & Int32(ZMQ_POLLIN) == 0
    }

    /// The raw handle, for polling and proxies inside the module.
    var rawHandle: UnsafeMutableRawPointer? { handle }
}

/// A reusable received frame (`zmq_msg_t`): allocated once, refilled by every `receive`.
public final class ZMQMessage {
    let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// An empty message.
    public init() {
        pointer = .allocate(capacity: 1)
        _ = Calls.messageInit(pointer)
    }

    deinit {
        _ = Calls.messageClose(pointer)
        pointer.deallocate()
    }

    /// The frame's size in bytes.
    public var count: Int { Calls.messageSize(pointer) }
    /// Whether more frames of the same message follow (`zmq_msg_more`).
    public var hasMore: Bool { Calls.messageMore(pointer) != 0 }
    /// Calls `body` with the frame's bytes, valid until the next receive into this message.
    @inline(__always)
    public func withUnsafeBytes<Result, Failure: Error>(_ body: (UnsafeRawBufferPointer) throws(Failure) -> Result) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: Calls.messageData(pointer), count: Calls.messageSize(pointer)))
    }
    /// A copy of the frame's bytes.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}
