#if canImport(Glibc)
import Glibc
#endif

/// The process's file-descriptor limit (RLIMIT_NOFILE). The daemon raises its soft limit to
/// the hard one at start, then keeps most of it for sockets and connections: the recorder may
/// hold at most a quarter (its open files are bounded, least recently written closed first),
/// so a flood of streams never leaves libzmq without a descriptor to accept a connection.
enum DescriptorLimit {
    /// Raises the soft limit to the hard limit (as far as the kernel allows) and returns the
    /// soft limit now in force.
    static func raise() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(UInt64(limit.rlim_cur), UInt64(Int32.max)))  // RLIM_INFINITY is the largest value
    }
}
