import CZeroMQ

/// Library-wide functions: polling, the built-in proxy, version and capabilities, CURVE keys.
public enum ZMQ {
    /// What to wait for on a socket (ZMQ_POLLIN, ZMQ_POLLOUT).
    public struct PollEvents: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        /// ZMQ_POLLIN: a message can be received.
        public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
        /// ZMQ_POLLOUT: a message can be sent.
        public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
    }

    /// Waits until one of `sockets` has one of its events, or `timeoutMilliseconds` pass
    /// (-1 waits forever; `zmq_poll`).
    /// - Returns: the events that happened, one entry per socket, in order.
    public static func poll(_ sockets: [(ZMQSocket, PollEvents)], timeoutMilliseconds: Int) throws(ZMQError) -> [PollEvents] {
        let poller = try ZMQPoller(sockets)
        try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
        return sockets.indices.map { poller.events(at: $0) }
    }

    /// Forwards messages between two sockets until the context shuts down (`zmq_proxy`):
    /// the bare forwarder benchmarks compare against.
    public static func proxy(frontend: ZMQSocket, backend: ZMQSocket) throws(ZMQError) {
        let front = try frontend.socket("zmq_proxy"), back = try backend.socket("zmq_proxy")
        _ = try checked("zmq_proxy") { Calls.proxy(front, back) }
    }

    /// The libzmq version in use (`zmq_version`).
    public static var version: (major: Int, minor: Int, patch: Int) {
        let (major, minor, patch) = Calls.version()
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether libzmq was built with a capability such as `curve` or `ipc` (`zmq_has`).
    public static func hasCapability(_ name: String) -> Bool { Calls.has(name) == 1 }

    /// A new CURVE key pair, Z85-encoded (40 characters each; `zmq_curve_keypair`).
    public static func curveKeyPair() throws(ZMQError) -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41), secretKey = [CChar](repeating: 0, count: 41)
        _ = try checked("zmq_curve_keypair") {
            publicKey.withUnsafeMutableBufferPointer { p in secretKey.withUnsafeMutableBufferPointer { s in Calls.curveKeyPair(p.baseAddress!, s.baseAddress!) } }
        }
        func text(_ key: [CChar]) -> String { String(decoding: key.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return (text(publicKey), text(secretKey))
    }

    /// The public key belonging to a Z85 secret key (`zmq_curve_public`); nil when `secretKey`
    /// is not 40 Z85 characters.
    public static func curvePublicKey(secretKey: String) -> String? {
        guard z85Decode(secretKey)?.count == 32 else { return nil }
        var publicKey = [CChar](repeating: 0, count: 41)
        guard publicKey.withUnsafeMutableBufferPointer({ Calls.curvePublic($0.baseAddress!, secretKey) }) == 0 else { return nil }
        return String(decoding: publicKey.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Z85 text of `bytes` (`zmq_z85_encode`; the count must be a multiple of 4).
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count * 5 / 4 + 1)
        let done = bytes.withUnsafeBufferPointer { data in
            text.withUnsafeMutableBufferPointer { Calls.z85Encode($0.baseAddress!, data.baseAddress!, data.count) != nil }
        }
        return done ? String(decoding: text.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    /// The bytes of Z85 `text` (`zmq_z85_decode`); nil unless `text` is Z85 of a length that is
    /// a multiple of 5 (a CURVE key: 40 characters, 32 bytes).
    public static func z85Decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
        guard !characters.isEmpty, characters.count % 5 == 0, characters.allSatisfy({ alphabet.contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: characters.count * 4 / 5)
        let done = bytes.withUnsafeMutableBufferPointer { Calls.z85Decode($0.baseAddress!, text) != nil }
        return done ? bytes : nil
    }
}

/// A reusable poll set (`zmq_poll`): the items are built once, so a loop that polls on every
/// wake-up allocates nothing.
public final class ZMQPoller {
    private var items: [zmq_pollitem_t]
    private let sockets: [ZMQSocket]

    /// A poll set over `sockets`, each with the events to wait for.
    public init(_ entries: [(ZMQSocket, ZMQ.PollEvents)]) throws(ZMQError) {
        var items: [zmq_pollitem_t] = []
        for (socket, events) in entries {
            items.append(zmq_pollitem_t(socket: try socket.socket("zmq_poll"), fd: -1, events: events.rawValue, revents: 0))
        }
        self.items = items
        self.sockets = entries.map(\.0)
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) for an event.
    /// - Returns: how many sockets have events.
    @discardableResult
    public func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        Int(try checked("zmq_poll", retryOnInterrupt: true) {
            items.withUnsafeMutableBufferPointer { Calls.poll($0.baseAddress!, Int32($0.count), timeoutMilliseconds) }
        })
    }

    /// The events the last poll reported for entry `index`.
    public func events(at index: Int) -> ZMQ.PollEvents { ZMQ.PollEvents(rawValue: items[index].revents) }
}
