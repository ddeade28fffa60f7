#if canImport(Glibc)
import Glibc
#endif

/// A CURVE key pair (or a public key alone) as ZeroMQ's tools store it: the czmq certificate
/// text format (`curve` section, `public-key = "<Z85>"`, `secret-key = "<Z85>"`), which pyzmq's
/// `zmq.auth.load_certificate` reads and `zmq.auth.create_certificates` writes, so keys move
/// between gazefilter and Python clients unchanged. `NAME.key` holds the public key,
/// `NAME.key_secret` both (mode 0600).
public struct CurveKeyFile: Sendable, Equatable {
    /// The public key, Z85 (40 characters).
    public var publicKey: String
    /// The secret key, Z85, when the file holds one.
    public var secretKey: String?

    /// The largest key file read (a certificate is about 400 bytes).
    public static let sizeLimit = 64 << 10

    /// A key pair or a public key.
    public init(publicKey: String, secretKey: String? = nil) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Reads a certificate file (a regular file of at most `sizeLimit` bytes).
    /// - Throws: `GazeFileError` naming the file: unreadable, or no well-formed public key.
    public static func read(_ path: String) throws(GazeFileError) -> CurveKeyFile {
        let bytes = try BoundedFile.read(path, limit: sizeLimit, what: "key file")
        var publicKey: String?, secretKey: String?
        for (number, rawLine) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let line = String(decoding: rawLine, as: UTF8.self).trimmingSpaces
            guard !line.hasPrefix("#"), let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals]).trimmingSpaces
            guard name == "public-key" || name == "secret-key" else { continue }
            var value = String(line[line.index(after: equals)...]).trimmingSpaces
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            guard isZ85Key(value) else {
                throw GazeFileError(path: path, line: number + 1, "\(name) is not a Z85 CURVE key (40 characters)")
            }
            if name == "public-key" { publicKey = value } else { secretKey = value }
        }
        guard let publicKey else { throw GazeFileError(path: path, "has no public-key = \"<40 Z85 characters>\" line (a ZeroMQ CURVE certificate)") }
        return CurveKeyFile(publicKey: publicKey, secretKey: secretKey)
    }

    /// Whether `text` has the shape of a Z85 CURVE key: 40 characters of the Z85 alphabet.
    public static func isZ85Key(_ text: String) -> Bool {
        let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
        return text.utf8.count == 40 && text.utf8.allSatisfy { alphabet.contains($0) }
    }

    /// The certificate text, public only or with the secret key.
    public func text(includingSecret: Bool, generatedBy program: String) -> String {
        let kind = includingSecret ? "ZeroMQ CURVE **Secret** Certificate" : "ZeroMQ CURVE Public Certificate"
        let advice = includingSecret
            ? "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
            : "#   Exchange securely, or use a secure mechanism to verify the contents\n#   of this file after exchange.\n"
        var text = "#   ****  Generated on \(UTCCalendar.timestamp()) by \(program)  ****\n#   \(kind)\n\(advice)\nmetadata\ncurve\n"
        text += "    public-key = \"\(publicKey)\"\n"
        if includingSecret, let secretKey { text += "    secret-key = \"\(secretKey)\"\n" }
        return text
    }

    /// Writes `<base>.key` (public, mode 0644) and `<base>.key_secret` (both keys, mode 0600),
    /// refusing to replace existing files (a key pair is overwritten only on purpose: remove it first).
    /// - Throws: `GazeFileError` naming the file that exists or cannot be written.
    public func writePair(base: String, generatedBy program: String) throws(GazeFileError) {
        try Self.create(base + ".key_secret", text(includingSecret: true, generatedBy: program), mode: 0o600)
        try Self.create(base + ".key", text(includingSecret: false, generatedBy: program), mode: 0o644)
    }

    /// Creates a new file with exactly `mode` (the umask cannot widen or narrow it), synced.
    private static func create(_ path: String, _ text: String, mode: mode_t) throws(GazeFileError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard descriptor >= 0 else {
            throw GazeFileError(path: path, errno == EEXIST ? "exists already (remove it to make a new key pair)" : "cannot create: \(systemErrorText())")
        }
        defer { close(descriptor) }
        var failure: String?
        if fchmod(descriptor, mode) != 0 { failure = "cannot set its mode: \(systemErrorText())" }
        let bytes = Array(text.utf8)
        if failure == nil, bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) != bytes.count { failure = "cannot write: \(systemErrorText())" }
        if failure == nil, fsync(descriptor) != 0 { failure = "cannot sync: \(systemErrorText())" }
        if let failure {
            unlink(path)
            throw GazeFileError(path: path, failure)
        }
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs.
    fileprivate var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}
