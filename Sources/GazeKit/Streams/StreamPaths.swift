/// Where a stream's files live: its parameter file, their backup and lock, and its
/// recordings. The daemon (parameters, recorder) and the refit (reader, install) both ask here.
public enum StreamPaths {
    /// `<directory>/<stream>.json`: the stream's own parameters, preferred over the default ones.
    public static func parameters(_ stream: String, in directory: String) -> String { join(directory, "\(stream).json") }
    /// `<directory>/<stream>.prev.json`: the parameters a refit replaced.
    public static func previousParameters(_ stream: String, in directory: String) -> String { join(directory, "\(stream).prev.json") }
    /// `<directory>/.<stream>.lock`: held while a refit works on the stream.
    public static func lock(_ stream: String, in directory: String) -> String { join(directory, ".\(stream).lock") }
    /// `<recordDirectory>/<stream>`: the stream's recordings, one file per UTC day.
    public static func recordings(_ stream: String, in recordDirectory: String) -> String { join(recordDirectory, stream) }
    /// `<recordDirectory>/<stream>/<YYYY-MM-DD>.csv`: one UTC day of the stream's raw samples.
    public static func recording(_ stream: String, date: String, in recordDirectory: String) -> String {
        join(recordings(stream, in: recordDirectory), "\(date).csv")
    }

    /// Whether `name` is a recording's file name, `YYYY-MM-DD.csv` with a plausible month and day.
    public static func isRecordingName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count == 14, name.hasSuffix(".csv"), bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return false }
        let digits = [0, 1, 2, 3, 5, 6, 8, 9]
        guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) }) else { return false }
        func number(_ range: [Int]) -> Int { range.reduce(0) { $0 * 10 + Int(bytes[$1] - UInt8(ascii: "0")) } }
        return (1...12).contains(number([5, 6])) && (1...31).contains(number([8, 9]))
    }

    /// `directory/name`, without doubling a trailing slash.
    static func join(_ directory: String, _ name: String) -> String { directory.hasSuffix("/") ? directory + name : directory + "/" + name }
}
