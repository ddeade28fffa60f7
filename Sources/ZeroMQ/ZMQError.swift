import CZeroMQ

/// A libzmq failure: the errno code, zmq's message for it, and the C function that failed.
/// Equality compares the code only, so `error == .again` reads naturally.
public struct ZMQError: Error, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The errno value (POSIX or one of zmq's own, such as ETERM).
    public let code: Int32
    /// The libzmq function that failed, e.g. `zmq_bind`.
    public let function: String

    /// An error for `code` raised by `function`.
    public init(code: Int32, function: StaticString = "zmq") {
        self.code = code
        self.function = "\(function)"
    }

    /// zmq_strerror's text for the code.
    public var message: String { Calls.errorMessage(code) }

    public var description: String { "\(function): \(message)" }

    public static func == (lhs: ZMQError, rhs: ZMQError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// EAGAIN: nothing to receive (or no room to send) without blocking, or a timeout.
    public static let again = ZMQError(code: EAGAIN)
    /// EINTR: a signal interrupted the call.
    public static let interrupted = ZMQError(code: EINTR)
    /// ETERM: the context was terminated or shut down.
    public static let terminated = ZMQError(code: ETERM)
    /// EINVAL: an invalid argument or endpoint.
    public static let invalidArgument = ZMQError(code: EINVAL)
    /// EADDRINUSE: the endpoint is already bound.
    public static let addressInUse = ZMQError(code: EADDRINUSE)
    /// EPROTONOSUPPORT: the endpoint's transport is not supported.
    public static let protocolNotSupported = ZMQError(code: EPROTONOSUPPORT)
    /// ENOTSOCK: the socket was closed.
    public static let notSocket = ZMQError(code: ENOTSOCK)
    /// EFSM: the operation is not valid in the socket's state (for example REQ sending twice).
    public static let wrongState = ZMQError(code: EFSM)
}
