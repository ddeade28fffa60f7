#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeFilterConfiguration
import GazeKit
import Synchronization

/// Reads the configuration, every parameter file and the allowed CURVE keys for a reload on a
/// thread of its own, so
/// the sample path never waits on a file: a slow disk, a FIFO or a device behind a file's name
/// delays only the reload, never a sample, and never SIGTERM.
///
/// The queue is bounded at one request: SIGHUPs arriving while a reload is read fold into
/// one more reading after it (the newest files win). The service takes finished readings with
/// `take()` in its loop, which never blocks.
final class ParameterLoader: Sendable {
    /// One finished reading: the configuration (or why it was not reloaded) and the parameters.
    struct Reading: Sendable {
        var configuration: DaemonConfiguration
        var configurationFailure: String?
        var parameters: ParameterSource
        var globalFailure: GazeFileError?
        /// The allowed clients' keys, when CURVE is configured, and the files that could not be read.
        var allowedKeys: (keys: Set<[UInt8]>, problems: [String])?
    }

    private struct State {
        var requested = 0
        var done: Reading?
        var base: ParameterSource
        var configuration: DaemonConfiguration
    }

    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)
    private let reloadConfiguration: @Sendable () throws -> DaemonConfiguration
    /// The configuration the daemon started with: which streams are binocular stays as it says
    /// (a change waits for a restart), so it decides whether the binocular parameters are read.
    private let started: DaemonConfiguration

    /// A loader starting from what is in force now.
    init(parameters: ParameterSource, configuration: DaemonConfiguration,
         reloadConfiguration: @escaping @Sendable () throws -> DaemonConfiguration) {
        state = Mutex(State(base: parameters, configuration: configuration))
        self.reloadConfiguration = reloadConfiguration
        started = configuration
        let thread = Thread { [self] in loop() }
        thread.name = "gazefilterd-reload"
        thread.start()
    }

    /// Asks for a reading (returns at once).
    func request() {
        state.withLock { $0.requested += 1 }
        wake.signal()
    }

    /// The newest finished reading, if one is ready (never blocks on a file).
    func take() -> Reading? {
        state.withLock { state in
            defer { state.done = nil }
            return state.done
        }
    }

    private func loop() {
        var handled = 0
        while true {
            wake.wait()
            while true {
                let (requested, base, current) = state.withLock { ($0.requested, $0.base, $0.configuration) }
                guard requested != handled else { break }
                handled = requested
                var configuration = current
                var configurationFailure: String?
                do { configuration = try reloadConfiguration() } catch { configurationFailure = "\(error)" }
                let binocular = configuration.keepingEyes(of: started).hasBinocularStreams
                let (parameters, globalFailure) = base.reloaded(
                    path: configuration.parametersPath, binocularPath: binocular ? configuration.binocularParametersPath : nil,
                    directory: configuration.parametersDirectory)
                let allowedKeys = configuration.curveAllowedKeys.map { CurveAuthenticator.readAllowed($0) }
                state.withLock { state in
                    state.base = parameters
                    state.configuration = configuration
                    state.done = Reading(configuration: configuration, configurationFailure: configurationFailure,
                                         parameters: parameters, globalFailure: globalFailure, allowedKeys: allowedKeys)
                }
            }
        }
    }
}
