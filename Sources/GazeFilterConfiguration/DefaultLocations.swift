import Foundation

/// Where gazefilter's files are when no setting names them, so the tools work from any working
/// directory, from a checkout as installed: the state directory (recordings, refitted parameters,
/// reports, the daemon's pid file) and the default parameter file. The search orders are
/// documented in README ("Where files live"); the daemon and the refit use the same answers.
public struct DefaultLocations: Sendable, Equatable {
    /// Recordings, per-stream parameters, reports and the pid file live under here.
    public var stateDirectory: String
    /// Where the default parameter file is looked for, in order.
    public var parameterCandidates: [String]
    /// Where the default parameters of binocular streams (m = 4) are looked for, in order: the
    /// same places, `binocular.json` instead of `default.json`.
    public var binocularParameterCandidates: [String] {
        parameterCandidates.map { ($0 as NSString).deletingLastPathComponent + "/binocular.json" }
    }

    /// The directory the installed tools use: what `scripts/install` creates and the units own.
    public static let installedStateDirectory = "/var/lib/gazefilter"
    /// The administrator's copy of the default parameters, installed.
    public static let installedParameters = "/etc/gazefilter/params/default.json"

    /// The locations for this process: its environment and where its executable is.
    public static var current: DefaultLocations {
        DefaultLocations(environment: ProcessInfo.processInfo.environment, executable: executablePath())
    }

    /// The locations for an `environment` and an `executable` path.
    ///
    /// State directory: `$STATE_DIRECTORY` (systemd's `StateDirectory=`, its first entry); else
    /// /var/lib/gazefilter for an installed executable (one with `../share/gazefilter` beside its
    /// directory); else the user's `$XDG_STATE_HOME/gazefilter` (default `~/.local/state/gazefilter`).
    ///
    /// Default parameters, the first that exists of: `config/params/default.json` of the checkout the
    /// executable was built in (found upwards from it, as from `.build/debug/gazefilterd`);
    /// /etc/gazefilter/params/default.json; `<prefix>/share/gazefilter/params/default.json` of an
    /// installed executable in `<prefix>/bin`.
    public init(environment: [String: String], executable: String) {
        let binDirectory = (executable as NSString).deletingLastPathComponent
        let share = ((binDirectory as NSString).deletingLastPathComponent as NSString).appendingPathComponent("share/gazefilter")
        let installed = FileManager.default.fileExists(atPath: share)
        if let systemd = environment["STATE_DIRECTORY"]?.split(separator: ":").first, systemd.hasPrefix("/") {
            stateDirectory = String(systemd)
        } else if installed {
            stateDirectory = Self.installedStateDirectory
        } else if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            stateDirectory = xdg + "/gazefilter"
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            stateDirectory = home + "/.local/state/gazefilter"
        } else {
            stateDirectory = Self.installedStateDirectory
        }
        parameterCandidates = Self.checkout(above: binDirectory).map { [$0 + "/config/params/default.json"] } ?? []
        parameterCandidates += [Self.installedParameters, share + "/params/default.json"]
    }

    /// The default parameter file: the first candidate that exists, else the first candidate (so
    /// that the error names a path the user can act on).
    public var parameters: String {
        parameterCandidates.first { FileManager.default.fileExists(atPath: $0) } ?? parameterCandidates[0]
    }
    /// The default parameters of binocular streams: the first binocular candidate that exists, else the first.
    public var binocularParameters: String {
        binocularParameterCandidates.first { FileManager.default.fileExists(atPath: $0) } ?? binocularParameterCandidates[0]
    }
    /// `<state>/recordings`: the daemon's recordings, read by the refit.
    public var recordDirectory: String { stateDirectory + "/recordings" }
    /// `<state>/params`: per-stream parameters, written by the refit, read by the daemon.
    public var parametersDirectory: String { stateDirectory + "/params" }
    /// `<state>/reports`: the refit's reports and figures.
    public var reportDirectory: String { stateDirectory + "/reports" }
    /// `<state>/gazefilterd.pid`: where the daemon writes its pid and the refit reads it.
    public var pidFile: String { stateDirectory + "/gazefilterd.pid" }

    /// The checkout (a directory with `Package.swift` and `config/params`) that holds `directory`,
    /// looking up to five levels up (`.build/<triple>/debug` is three).
    static func checkout(above directory: String) -> String? {
        var candidate = directory
        for _ in 0..<6 {
            if FileManager.default.fileExists(atPath: candidate + "/Package.swift"),
               FileManager.default.fileExists(atPath: candidate + "/config/params/default.json") { return candidate }
            let parent = (candidate as NSString).deletingLastPathComponent
            if parent == candidate || parent.isEmpty { return nil }
            candidate = parent
        }
        return nil
    }

    /// This process's executable, symbolic links resolved (`/proc/self/exe`).
    public static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
