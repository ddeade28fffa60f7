#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GazeKit

/// Stage 5, notify: tells the running daemon to reload, once per job, when parameters were
/// installed: SIGHUP to the pid in the pid file (only if that pid still is `gazefilterd`, so a
/// stale pid file never signals an unrelated process), `systemctl reload`, or nothing.
struct NotifyStage {
    let configuration: RefitConfiguration

    /// The daemon's process name (`/proc/<pid>/comm`): a pid file naming any other process is stale.
    static let daemonName = "gazefilterd"

    /// What telling the daemon did.
    struct Outcome {
        /// For the report and the log.
        let message: String
        /// Whether the daemon was told (false when it should have been and was not).
        let told: Bool
    }

    func run() -> Outcome {
        switch configuration.reload {
        case .none:
            return Outcome(message: "not asked (reload = none)", told: true)
        case .pidFile:
            let path = configuration.pidFile
            let text: String
            do { text = String(decoding: try readFile(path, limit: 4096, what: "pid file"), as: UTF8.self) } catch {
                return Outcome(message: "not signalled: cannot read the pid file \(error) (is gazefilterd running with this pid_file?)", told: false)
            }
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard let pid = Int32(trimmed), pid > 1 else {
                return Outcome(message: "not signalled: \(path) does not hold a process id (\"\(trimmed.prefix(20))\")", told: false)
            }
            // A pid outlives its process: only signal it if it still is the daemon.
            guard let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else {
                return Outcome(message: "not signalled: no process \(pid) (from \(path)); the daemon is not running", told: false)
            }
            let name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            guard name == Self.daemonName else {
                return Outcome(message: "not signalled: pid \(pid) from \(path) is \"\(name)\", not \(Self.daemonName) (a stale pid file)", told: false)
            }
            guard kill(pid, SIGHUP) == 0 else { return Outcome(message: "not signalled: kill(\(pid), SIGHUP): \(systemErrorText())", told: false) }
            return Outcome(message: "SIGHUP sent to pid \(pid)", told: true)
        case .systemd:
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/systemctl")
            process.arguments = ["reload", configuration.unit]
            do { try process.run() } catch {
                return Outcome(message: "systemctl reload \(configuration.unit) failed: \(FileSystem.describe(error))", told: false)
            }
            process.waitUntilExit()
            return process.terminationStatus == 0 ? Outcome(message: "systemctl reload \(configuration.unit)", told: true)
                : Outcome(message: "systemctl reload \(configuration.unit) exited \(process.terminationStatus)", told: false)
        }
    }
}
