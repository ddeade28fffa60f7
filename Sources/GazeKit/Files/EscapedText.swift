/// Untrusted bytes (a topic, a field of a file) as one line of log or report text.
public enum EscapedText {
    /// `bytes` in double quotes: printable ASCII as is, `"` and `\` escaped, anything else
    /// (newlines, NUL, non-ASCII) as `\xNN`, cut after `limit` bytes with `…`. Nothing in
    /// it can end a log line or forge another one.
    public static func quoted(_ bytes: some Collection<UInt8>, limit: Int) -> String {
        var text = "\""
        for byte in bytes.prefix(limit) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): text += "\\" + String(UnicodeScalar(byte))
            case 0x20..<0x7F: text.unicodeScalars.append(UnicodeScalar(byte))
            default: text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return text + (bytes.count > limit ? "…\"" : "\"")
    }
}
