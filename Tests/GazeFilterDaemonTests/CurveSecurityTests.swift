#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeFilterDaemon
import GazeKit
import LinearDynamics
import Testing
import ZeroMQ
import _TestSupport

/// Issue 11's problem 7 against the real daemon and real CURVE sockets: keys made by
/// `gazefilterd keygen`; an allowed client's samples come through; a client with an unknown
/// key and a plain client get nothing in and nothing out, and are counted; SIGHUP re-reads
/// the allowed keys; a non-loopback bind without CURVE is refused.
@Suite(.serialized) struct CurveSecurityTests {
    static func json(_ t: Double) -> String { "{\"t\": \(t), \"x\": 100, \"y\": 100}" }

    /// Makes a key pair with the real `gazefilterd keygen` and reads it back.
    static func keygen(_ base: String) throws -> CurveKeyFile {
        let result = try runTool("gazefilterd", ["keygen", "--output", base])
        #expect(result.status == 0, "\(result.standardError)")
        return try CurveKeyFile.read(base + ".key_secret")
    }

    /// A publisher and a subscriber outside the allowed set (`keys` nil: no CURVE at all).
    final class Outsider {
        let publisher: ZMQSocket, subscriber: ZMQSocket
        init(context: ZMQContext, daemon: DaemonProcess, keys: CurveClientKeys?) throws {
            publisher = try ZMQSocket(context, type: .extendedPublisher)
            subscriber = try ZMQSocket(context, type: .subscriber)
            for socket in [publisher, subscriber] { try keys?.apply(to: socket) }
            try subscriber.subscribe("gaze.")
            try publisher.connect(daemon.inputEndpoint)
            try subscriber.connect(daemon.outputEndpoint)
        }
        /// Whether anything reached this outsider (a subscription from the daemon, or a message).
        func heardAnything() throws -> Bool {
            try publisher.receiveMultipart(flags: .dontWait) != nil || subscriber.receiveMultipart(flags: .dontWait) != nil
        }
    }

    @Test func onlyAllowedKeysGetInOrOut() throws {
        let directory = makeTemporaryDirectory("curve")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/allowed", withIntermediateDirectories: true)
        let server = try Self.keygen(directory + "/server")
        let client = try Self.keygen(directory + "/allowed/client")
        let stranger = try Self.keygen(directory + "/stranger")
        var info = stat()
        #expect(stat(directory + "/server.key_secret", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(stat(directory + "/server.key", &info) == 0 && info.st_mode & 0o777 == 0o644)
        #expect(try runTool("gazefilterd", ["keygen", "--output", directory + "/server"]).status == 2)  // never overwrites

        try ParameterFile(parameters: DaemonIntegrationTests.model).write(to: directory + "/params.json")
        let daemon = try DaemonProcess(directory: directory, arguments: [
            "--params", directory + "/params.json", "--curve-secret-key", directory + "/server.key_secret",
            "--curve-allowed-keys", directory + "/allowed", "--stats-interval", "0.2"])
        func keys(_ pair: CurveKeyFile) -> CurveClientKeys {
            CurveClientKeys(serverKey: server.publicKey, publicKey: pair.publicKey, secretKey: pair.secretKey!)
        }
        let allowed = try GazeTestClient(daemon: daemon, curve: keys(client))
        let unknown = try Outsider(context: allowed.context, daemon: daemon, keys: keys(stranger))
        let plain = try Outsider(context: allowed.context, daemon: daemon, keys: nil)
        usleep(300_000)  // both outsiders have tried (and retried) their handshakes
        for t in 0..<20 {
            try allowed.publish(stream: "good", json: Self.json(Double(t)))
            for outsider in [unknown, plain] {
                try outsider.publisher.sendMultipart([Array("gaze.raw.bad".utf8), Array(Self.json(Double(t)).utf8)], flags: .dontWait)
            }
        }
        #expect(try allowed.receive(count: 20) { $0 == "gaze.clean.good" }.count == 20)
        #expect(try !unknown.heardAnything() && !plain.heardAnything())
        let stats = try JSONValue.parse(Data(try allowed.receive(count: 1) { $0 == "gaze.stats" }.first?.payload ?? [])).object
        let security = stats?["security"]?.object
        #expect(stats?["streams"]?.object?.keys.sorted() == ["good", "probe"], "\(String(describing: stats))")
        #expect((security?["refused_keys"]?.number ?? 0) >= 2, "\(String(describing: security))")  // the stranger's two sockets
        #expect((security?["failed_handshakes"]?.number ?? 0) >= 2, "\(String(describing: security))")  // the plain ones
        #expect(security?["allowed_keys"]?.number == 1)
        #expect(daemon.waitForLog("CURVE: refused a client key not allowed"), "\(daemon.log)")

        // SIGHUP re-reads the allowed keys: the stranger's key, once allowed, gets in.
        try FileManager.default.copyItem(atPath: directory + "/stranger.key", toPath: directory + "/allowed/stranger.key")
        daemon.signal(SIGHUP)
        #expect(daemon.waitForLog("2 client keys allowed"), "\(daemon.log)")
        let admitted = try GazeTestClient(daemon: daemon, curve: keys(stranger))
        try admitted.publish(stream: "late", json: Self.json(1))
        #expect(try admitted.receive(count: 1) { $0 == "gaze.clean.late" }.count == 1)
        #expect(daemon.terminate()?.status == 0)
    }

    /// gazecat's client side: `sub` with the allowed key prints the daemon's estimates.
    @Test func gazecatSubscribesWithItsKey() throws {
        let directory = makeTemporaryDirectory("curve")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/allowed", withIntermediateDirectories: true)
        let server = try Self.keygen(directory + "/server")
        let client = try Self.keygen(directory + "/allowed/client")
        try ParameterFile(parameters: DaemonIntegrationTests.model).write(to: directory + "/params.json")
        let daemon = try DaemonProcess(directory: directory, arguments: [
            "--params", directory + "/params.json", "--curve-secret-key", directory + "/server.key_secret", "--curve-allowed-keys", directory + "/allowed"])
        let publisher = try GazeTestClient(daemon: daemon, curve: CurveClientKeys(serverKey: server.publicKey, publicKey: client.publicKey, secretKey: client.secretKey!))
        let sub = Process()
        sub.executableURL = URL(fileURLWithPath: executablePath("gazecat"))
        sub.arguments = ["sub", "--endpoint", daemon.outputEndpoint, "--topic", "gaze.clean.cat", "--count", "3", "--timeout", "20",
                         "--curve-server-key", directory + "/server.key", "--curve-key", directory + "/allowed/client.key_secret"]
        let out = Pipe()
        sub.standardOutput = out
        try sub.run()
        var t = 0.0
        while sub.isRunning && t < 2000 {
            try publisher.publish(stream: "cat", json: Self.json(t))
            t += 1
            usleep(10_000)
        }
        sub.waitUntilExit()
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        #expect(sub.terminationStatus == 0 && lines.count == 3 && lines.allSatisfy { $0.contains("gaze.clean.cat") }, "\(lines)")
        let mismatched = try runTool("gazecat", ["sub", "--curve-key", directory + "/allowed/client.key_secret"])
        #expect(mismatched.status == 2 && mismatched.standardError.contains("--curve-server-key and --curve-key go together"))
        #expect(daemon.terminate()?.status == 0)
    }

    /// Binding a non-loopback address without CURVE is refused in one line (nothing is bound);
    /// loopback and ipc endpoints are local.
    @Test func aRemoteBindWithoutCurveIsRefused() throws {
        for endpoint in ["tcp://0.0.0.0:5999", "tcp://*:5999", "tcp://eth0:5999", "tcp://[::]:5999"] {
            let result = try runTool("gazefilterd", ["--input", endpoint])
            #expect(result.status == 2 && result.standardError.contains("refusing to bind \(endpoint) without CURVE")
                    && result.standardError.split(separator: "\n").count == 1, "\(result.standardError)")
        }
        var configuration = DaemonConfiguration()
        for local in ["tcp://127.0.0.1:5555", "tcp://localhost:1", "tcp://[::1]:5", "ipc:///run/x", "inproc://a"] {
            configuration.inputEndpoint = local
            #expect(configuration.insecureRemoteEndpoints.isEmpty, "\(local)")
        }
        configuration.inputEndpoint = "tcp://192.168.1.4:5555"
        #expect(configuration.insecureRemoteEndpoints == ["tcp://192.168.1.4:5555"])
        configuration.inputMode = .connect
        #expect(configuration.insecureRemoteEndpoints.isEmpty)  // connecting out is not listening
        configuration.inputMode = .bind
        configuration.curveSecretKey = "/etc/gazefilter/server.key_secret"
        #expect(configuration.insecureRemoteEndpoints.isEmpty)
    }
}
