import CZeroMQ

// Every raw libzmq call of the wrapper is here, so the whole C surface is visible in one place.
// Each returns the C result unchanged; `check` turns -1 into a `ZMQError` naming the function.

@inline(__always) func check(_ result: Int32, _ function: StaticString, retryOnInterrupt: Bool = false, _ call: () -> Int32) throws(ZMQError) -> Int32 {
    var result = result
    while result == -1 {
        let code = Calls.lastError()
        if retryOnInterrupt && code == EINTR { result = call(); continue }
        throw ZMQError(code: code, function: function)
    }
    return result
}

/// Runs `call`, retrying on EINTR when asked, and throws on -1.
@inline(__always) func checked(_ function: StaticString, retryOnInterrupt: Bool = false, _ call: () -> Int32) throws(ZMQError) -> Int32 {
    try check(call(), function, retryOnInterrupt: retryOnInterrupt, call)
}

enum Calls {
    static func contextNew() -> UnsafeMutableRawPointer? { zmq_ctx_new() }
    static func contextTerm(_ context: UnsafeMutableRawPointer) -> Int32 { zmq_ctx_term(context) }
    static func contextShutdown(_ context: UnsafeMutableRawPointer) -> Int32 { zmq_ctx_shutdown(context) }
    static func contextSet(_ context: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32) -> Int32 { zmq_ctx_set(context, option, value) }
    static func socket(_ context: UnsafeMutableRawPointer, _ type: Int32) -> UnsafeMutableRawPointer? { zmq_socket(context, type) }
    static func close(_ socket: UnsafeMutableRawPointer) -> Int32 { zmq_close(socket) }
    static func bind(_ socket: UnsafeMutableRawPointer, _ endpoint: String) -> Int32 { zmq_bind(socket, endpoint) }
    static func connect(_ socket: UnsafeMutableRawPointer, _ endpoint: String) -> Int32 { zmq_connect(socket, endpoint) }
    static func unbind(_ socket: UnsafeMutableRawPointer, _ endpoint: String) -> Int32 { zmq_unbind(socket, endpoint) }
    static func disconnect(_ socket: UnsafeMutableRawPointer, _ endpoint: String) -> Int32 { zmq_disconnect(socket, endpoint) }
    static func setOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: UnsafeRawPointer?, _ length: Int) -> Int32 {
        zmq_setsockopt(socket, option, value, length)
    }
    static func getOption(_ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: UnsafeMutableRawPointer, _ length: UnsafeMutablePointer<Int>) -> Int32 {
        zmq_getsockopt(socket, option, value, length)
    }
    static func send(_ socket: UnsafeMutableRawPointer, _ bytes: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int32 {
        zmq_send(socket, bytes, count, flags)
    }
    static func messageInit(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Int32 { zmq_msg_init(message) }
    static func messageClose(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Int32 { zmq_msg_close(message) }
    static func messageReceive(_ message: UnsafeMutablePointer<zmq_msg_t>, _ socket: UnsafeMutableRawPointer, _ flags: Int32) -> Int32 {
        zmq_msg_recv(message, socket, flags)
    }
    static func messageData(_ message: UnsafeMutablePointer<zmq_msg_t>) -> UnsafeMutableRawPointer? { zmq_msg_data(message) }
    static func messageSize(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Int { zmq_msg_size(message) }
    static func messageMore(_ message: UnsafeMutablePointer<zmq_msg_t>) -> Int32 { zmq_msg_more(message) }
    static func poll(_ items: UnsafeMutablePointer<zmq_pollitem_t>, _ count: Int32, _ timeout: Int) -> Int32 { zmq_poll(items, count, timeout) }
    static func proxy(_ frontend: UnsafeMutableRawPointer, _ backend: UnsafeMutableRawPointer) -> Int32 { zmq_proxy(frontend, backend, nil) }
    static func version() -> (Int32, Int32, Int32) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }
    static func has(_ capability: String) -> Int32 { zmq_has(capability) }
    static func curveKeyPair(_ publicKey: UnsafeMutablePointer<CChar>, _ secretKey: UnsafeMutablePointer<CChar>) -> Int32 {
        zmq_curve_keypair(publicKey, secretKey)
    }
    static func curvePublic(_ publicKey: UnsafeMutablePointer<CChar>, _ secretKey: String) -> Int32 { zmq_curve_public(publicKey, secretKey) }
    static func z85Encode(_ destination: UnsafeMutablePointer<CChar>, _ data: UnsafePointer<UInt8>, _ size: Int) -> UnsafeMutablePointer<CChar>? {
        zmq_z85_encode(destination, data, size)
    }
    static func z85Decode(_ destination: UnsafeMutablePointer<UInt8>, _ text: String) -> UnsafeMutablePointer<UInt8>? { zmq_z85_decode(destination, text) }
    static func socketMonitor(_ socket: UnsafeMutableRawPointer, _ endpoint: String, _ events: Int32) -> Int32 {
        zmq_socket_monitor(socket, endpoint, events)
    }
    static func lastError() -> Int32 { zmq_errno() }
    static func errorMessage(_ code: Int32) -> String { String(cString: zmq_strerror(code)) }
}
