#if canImport(Glibc)
import Glibc
#endif

/// The monotonic clock (CLOCK_MONOTONIC), for durations, timeouts and rate limits that must
/// not jump when the wall clock is set.
@inline(__always) public func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// The monotonic clock in seconds.
public func monotonicSeconds() -> Double { Double(monotonicNanoseconds()) * 1e-9 }
