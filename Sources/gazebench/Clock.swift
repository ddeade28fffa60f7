#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time in nanoseconds.
func nowNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// The best (smallest) of `repeats` timings of `body`, in nanoseconds: the least disturbed
/// run on a shared, noisy machine.
func bestOf(_ repeats: Int, _ body: () -> Void) -> Double {
    var best = UInt64.max
    for _ in 0..<repeats {
        let start = nowNanoseconds()
        body()
        best = min(best, nowNanoseconds() - start)
    }
    return Double(best)
}

/// Keeps results observable so the optimiser cannot drop the work.
nonisolated(unsafe) var sink = 0.0
