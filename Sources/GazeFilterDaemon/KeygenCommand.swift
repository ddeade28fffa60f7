import CommandLineSupport
import GazeKit
import ZeroMQ

/// `gazefilterd keygen --output BASE`: writes a new CURVE key pair as ZeroMQ certificates,
/// `BASE.key` (public, 0644: give it to the other side) and `BASE.key_secret` (0600: keep it),
/// the format pyzmq's `zmq.auth.load_certificate` reads. For the daemon's own pair and for
/// each client's (whose `.key` goes into the daemon's `curve_allowed_keys` directory).
enum KeygenCommand {
    static let spec = CommandSpec(
        name: "gazefilterd keygen", summary: "Write a new CURVE key pair: BASE.key (public) and BASE.key_secret (secret, mode 0600).",
        options: [OptionSpec("output", .value(placeholder: "BASE"), required: true, help: "path and name of the pair, e.g. /etc/gazefilter/server")],
        notes: """
            The daemon uses its BASE.key_secret as curve_secret_key; clients need its BASE.key.
            Each client gets a pair of its own; put its BASE.key into the daemon's curve_allowed_keys directory
            and send SIGHUP. Existing files are never replaced. Prints the public key.
            """)

    static func run(_ arguments: [String]) -> Int32 {
        do {
            guard let options = try spec.parse(arguments) else {
                try? StandardStream.output.write(spec.helpText)
                return 0
            }
            let base = try options.require("output")
            guard ZMQ.hasCapability("curve") else { return fail("this libzmq was built without CURVE (libsodium)") }
            let (publicKey, secretKey) = try ZMQ.curveKeyPair()
            try CurveKeyFile(publicKey: publicKey, secretKey: secretKey).writePair(base: base, generatedBy: "gazefilterd keygen")
            try StandardStream.output.write("\(publicKey)\n")
            return 0
        } catch let error as UsageError {
            try? StandardStream.error.write("\(error.description)\n")  // names the command already
            return 2
        } catch {
            return fail("\(error)")
        }
    }

    private static func fail(_ message: String) -> Int32 {
        try? StandardStream.error.write("gazefilterd keygen: \(message)\n")
        return 2
    }
}
