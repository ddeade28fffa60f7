import CZeroMQ

/// A libzmq context (`zmq_ctx_new`): owns the I/O threads; sockets are made from it.
/// Contexts are thread-safe, so this is `Sendable`; terminated when released.
public final class ZMQContext: Sendable {
    nonisolated(unsafe) let handle: UnsafeMutableRawPointer

    /// A new context with `ioThreads` I/O threads (ZMQ_IO_THREADS, default 1).
    public init(ioThreads: Int32 = 1) throws(ZMQError) {
        guard let handle = Calls.contextNew() else { throw ZMQError(code: Calls.lastError(), function: "zmq_ctx_new") }
        self.handle = handle
        if ioThreads != 1 { _ = try checked("zmq_ctx_set") { Calls.contextSet(handle, ZMQ_IO_THREADS, ioThreads) } }
    }

    /// Makes blocking calls on every socket of this context fail with `.terminated`
    /// (`zmq_ctx_shutdown`); safe from any thread, used to stop a blocked loop.
    public func shutdown() {
        _ = Calls.contextShutdown(handle)
    }

    deinit {
        // zmq_ctx_term blocks until every socket is closed; retry on EINTR.
        while Calls.contextTerm(handle) == -1 && Calls.lastError() == EINTR {}
    }
}
