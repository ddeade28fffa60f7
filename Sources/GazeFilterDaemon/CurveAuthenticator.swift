#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit
import ZeroMQ

/// The daemon's CURVE security: its own key pair, the allowed clients' public keys, and a ZAP
/// handler (ZeroMQ's authentication protocol, RFC 27) on `inproc://zeromq.zap.01` that libzmq
/// asks about every CURVE handshake on the input and the output. Allowed keys pass; any other
/// key is refused and counted. Clients without CURVE (or with a wrong server key) fail the
/// handshake itself; socket monitors count those. Nothing here ever blocks: the service polls
/// the handler and the monitors in its loop beside the input, a request costs one set lookup.
final class CurveAuthenticator {
    /// What the authenticator has seen, for `gaze.stats`.
    struct Counters {
        var accepted: UInt64 = 0
        /// Handshakes with a key not in the allowed set.
        var refusedKeys: UInt64 = 0
        /// Handshakes that failed before authentication: no CURVE, a wrong server key, garbage.
        var failedHandshakes: UInt64 = 0
    }

    /// The daemon's key pair (Z85).
    let publicKey: String
    let secretKey: String
    private(set) var allowed: Set<[UInt8]>
    private(set) var counters = Counters()
    /// The last refused key (Z85) and its ZAP domain, for the log.
    private(set) var lastRefused: (key: String, domain: String)?

    let handler: ZMQSocket
    private var monitors: [ZMQSocket] = []

    /// The most allowed-key files read from the directory.
    static let maximumAllowedKeys = 10_000

    /// Binds the ZAP handler in `context` (before any CURVE socket binds or connects).
    init(context: ZMQContext, keyPair: CurveKeyFile, allowed: Set<[UInt8]>) throws(ZMQError) {
        publicKey = keyPair.publicKey
        secretKey = keyPair.secretKey ?? ""
        self.allowed = allowed
        handler = try ZMQSocket(context, type: .reply)
        try handler.bind("inproc://zeromq.zap.01")
    }

    /// Makes `socket` a CURVE server under this key pair, its handshakes authenticated here
    /// under `domain` and watched by a monitor (its events are read by `serve`).
    func secure(_ socket: ZMQSocket, domain: String) throws(ZMQError) {
        try socket.makeCurveServer(secretKey: secretKey)
        try socket.setZAPDomain(domain)
        let endpoint = "inproc://gazefilterd.monitor.\(domain)"
        try socket.monitor(endpoint, events: [.handshakeFailedNoDetail, .handshakeFailedProtocol])
        let monitor = try ZMQSocket(socket.context, type: .pair)
        try monitor.connect(endpoint)
        monitors.append(monitor)
    }

    /// The sockets to poll for readability: the handler, then the monitors.
    var pollSockets: [ZMQSocket] { [handler] + monitors }

    /// Closes the handler and the monitors (before the context ends).
    func close() {
        handler.close()
        for monitor in monitors { monitor.close() }
    }

    /// Replaces the allowed keys (after a reload).
    func replaceAllowed(_ keys: Set<[UInt8]>) { allowed = keys }

    /// Answers every queued ZAP request and counts every queued monitor event, without waiting.
    func serve() throws(ZMQError) {
        while let request = try handler.receiveMultipart(flags: .dontWait) {
            try answer(request)
        }
        for monitor in monitors {
            while let event = try ZMQMonitorEvent.receive(from: monitor), !event.kind.isEmpty {
                counters.failedHandshakes += 1
            }
        }
    }

    /// One ZAP request: version, request id, domain, address, identity, mechanism, credentials.
    private func answer(_ frames: [[UInt8]]) throws(ZMQError) {
        let version = Array("1.0".utf8)
        guard frames.count >= 6, frames[0] == version else {
            // Not a ZAP 1.0 request: answer with an error so libzmq does not wait.
            try handler.sendMultipart([version, frames.count > 1 ? frames[1] : [], Array("500".utf8), Array("bad request".utf8), [], []])
            return
        }
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        let key = frames.count > 6 ? frames[6] : []
        let passes = mechanism == "CURVE" && key.count == 32 && allowed.contains(key)
        if passes {
            counters.accepted += 1
        } else {
            counters.refusedKeys += 1
            lastRefused = (ZMQ.z85Encode(key) ?? "(\(mechanism))", String(decoding: frames[2], as: UTF8.self))
        }
        try handler.sendMultipart([version, frames[1], Array((passes ? "200" : "400").utf8),
                                   Array((passes ? "OK" : "key not allowed").utf8),
                                   passes ? Array((ZMQ.z85Encode(key) ?? "").utf8) : [], []])
    }

    /// Reads the daemon's certificate: a regular file, not readable by group or others, holding
    /// a secret key whose public key matches the file's.
    /// - Throws: `GazeFileError` naming the file and the problem.
    static func readKeyPair(_ path: String) throws(GazeFileError) -> CurveKeyFile {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            throw GazeFileError(path: path, "the secret key is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))): chmod 600 it")
        }
        let file = try CurveKeyFile.read(path)
        guard let secret = file.secretKey else { throw GazeFileError(path: path, "has no secret-key: give the NAME.key_secret file gazefilterd keygen wrote") }
        guard ZMQ.curvePublicKey(secretKey: secret) == file.publicKey else {
            throw GazeFileError(path: path, "its public-key does not belong to its secret-key")
        }
        return file
    }

    /// Reads the allowed clients' public keys from `directory/*.key` (at most
    /// `maximumAllowedKeys` files, each a small regular file). Files that cannot be read are
    /// returned as problems and skipped.
    static func readAllowed(_ directory: String) -> (keys: Set<[UInt8]>, problems: [String]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            return ([], ["\(directory): cannot list the allowed keys: \(FileSystem.describe(error))"])
        }
        var keys = Set<[UInt8]>(), problems: [String] = []
        for name in names.sorted() where name.hasSuffix(".key") && !name.hasPrefix(".") {
            guard keys.count + problems.count < maximumAllowedKeys else {
                problems.append("\(directory): more than \(maximumAllowedKeys) key files; the rest are not read")
                break
            }
            do {
                let file = try CurveKeyFile.read("\(directory)/\(name)")
                if let key = ZMQ.z85Decode(file.publicKey) { keys.insert(key) }
            } catch {
                problems.append(error.description)
            }
        }
        return (keys, problems)
    }
}
