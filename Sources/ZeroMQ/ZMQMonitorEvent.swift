import CZeroMQ

/// One event of a socket monitor (`zmq_socket_monitor`): what happened on a connection.
public struct ZMQMonitorEvent: Sendable, Equatable {
    /// Kinds of monitor event (ZMQ_EVENT_*), as a set for subscribing.
    public struct Kind: OptionSet, Sendable, Hashable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// A connection was accepted (ZMQ_EVENT_ACCEPTED).
        public static let accepted = Kind(rawValue: ZMQ_EVENT_ACCEPTED)
        /// A handshake failed for no stated reason (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL).
        public static let handshakeFailedNoDetail = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        /// A handshake failed on the protocol: another security mechanism, a malformed command
        /// (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL).
        public static let handshakeFailedProtocol = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        /// The authenticator (ZAP) refused the peer (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH).
        public static let handshakeFailedAuthentication = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        /// A handshake completed (ZMQ_EVENT_HANDSHAKE_SUCCEEDED).
        public static let handshakeSucceeded = Kind(rawValue: ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
    }

    /// What happened.
    public let kind: Kind
    /// The event's value (a descriptor, an errno or a ZMTP error code, by kind).
    public let value: UInt32

    /// Reads one event from a PAIR socket connected to a monitor endpoint (two frames: event
    /// number and value, then the endpoint). Nil when nothing is queued (with `.dontWait`) or
    /// the frames are not an event.
    public static func receive(from socket: ZMQSocket, flags: ReceiveFlags = .dontWait) throws(ZMQError) -> ZMQMonitorEvent? {
        guard let frames = try socket.receiveMultipart(flags: flags), frames.count == 2, frames[0].count == 6 else { return nil }
        let header = frames[0]
        let number = UInt16(header[0]) | UInt16(header[1]) << 8
        let value = header[2...5].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * UInt32($1.offset)) }
        return ZMQMonitorEvent(kind: Kind(rawValue: Int32(number)), value: value)
    }
}
