#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// What the signal thread has asked the service loop to do.
public final class ServiceControl: Sendable {
    /// Set once SIGTERM or SIGINT arrives (or `requestShutdown` is called).
    public let shutdownRequested = Atomic<Bool>(false)
    /// Incremented by every SIGHUP; the loop reloads when it changes.
    public let reloadGeneration = Atomic<Int>(0)

    public init() {}

    /// Asks the loop to stop (as SIGTERM does).
    public func requestShutdown() { shutdownRequested.store(true, ordering: .releasing) }
    /// Asks the loop to reload (as SIGHUP does).
    public func requestReload() { reloadGeneration.add(1, ordering: .releasing) }
}

/// Turns SIGTERM, SIGINT and SIGHUP into requests on a `ServiceControl`, on a thread of its
/// own that waits with `sigwait`: no code runs in signal-handler context.
///
/// `blockSignals()` must run first in `main`, before any thread starts, so every thread
/// inherits the mask and the signals reach only the waiting thread.
public enum SignalWaiter {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Blocks the handled signals in the calling thread (and the threads it starts later).
    public static func blockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in handled { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Starts the waiting thread; it runs for the life of the process.
    public static func start(control: ServiceControl, onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            for signal in handled { sigaddset(&set, signal) }
            while true {
                var received: Int32 = 0
                guard sigwait(&set, &received) == 0 else { continue }
                onSignal(received)
                if received == SIGHUP { control.requestReload() } else { control.requestShutdown() }
            }
        }
        thread.name = "gazefilterd-signals"
        thread.start()
    }
}
