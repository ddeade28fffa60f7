#if canImport(Glibc)
import Glibc
#endif

/// A problem with an input or output file, named the way a person can act on it:
/// `path:line: problem` (the line when there is one).
public struct GazeFileError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file's path as given.
    public let path: String
    /// The 1-based line the problem is on, if it is on one line.
    public let line: Int?
    /// What is wrong.
    public let problem: String

    /// An error about `path` (and `line`).
    public init(path: String, line: Int? = nil, _ problem: String) {
        self.path = path
        self.line = line
        self.problem = problem
    }

    public var description: String {
        if let line { "\(path):\(line): \(problem)" } else { "\(path): \(problem)" }
    }
}

/// The C library's text for the current `errno` ("No space left on device"), for messages
/// that name a failed system call; read it right after the call, before anything else runs.
public func systemErrorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
