import GazeKit

/// Where a stream's samples come from when the source is a Pupil Capture or Pupil Service,
/// and how its normalised coordinates become pixels.
public struct PupilSourceSettings: Sendable, Equatable {
    /// Pupil Remote's REQ endpoint, `tcp://HOST:PORT` (Pupil's default port is 50020).
    public var remote: String
    /// The topic prefix subscribed on Pupil's IPC backbone: `gaze.` (all gaze), `gaze.3d.01.`
    /// (binocular 3D only), or `surfaces.<name>` (gaze mapped onto a surface).
    public var topic: String
    /// The pixel size that normalised coordinates span: the screen a surface covers, or the
    /// world camera's frame for plain gaze topics. Pixels count from the top-left corner.
    public var widthPixels: Double
    public var heightPixels: Double

    /// Pupil Remote on this machine at its default port, all gaze topics, a 1920×1080 screen.
    public init(remote: String = "tcp://127.0.0.1:50020", topic: String = "gaze.", widthPixels: Double = 1920, heightPixels: Double = 1080) {
        self.remote = remote
        self.topic = topic
        self.widthPixels = widthPixels
        self.heightPixels = heightPixels
    }

    /// The host part of `remote`, where the IPC backbone also listens; nil when `remote` is
    /// not `tcp://HOST:PORT` (Pupil Remote only speaks TCP).
    public var host: String? {
        guard remote.hasPrefix("tcp://"), let colon = remote.lastIndex(of: ":") else { return nil }
        let host = remote[remote.index(remote.startIndex, offsetBy: 6)..<colon]
        guard !host.isEmpty, let port = Int(remote[remote.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        return String(host)
    }
}

extension PupilSourceSettings {
    /// The key that makes a stream's source a Pupil Capture/Service (`"streams": {"<name>": {"pupil_remote": …}}`).
    public static let remoteKey = "pupil_remote"

    /// The Pupil source's settings, described once; they sit beside the stream's model settings
    /// in its `streams` entry of the daemon's config (a file-only setting: no flags).
    public static let settings = SettingsTable<PupilSourceSettings>([
        Setting(remoteKey, flag: nil, .parsed(placeholder: "ENDPOINT", requirement: "tcp://HOST:PORT (Pupil Remote, default port 50020)",
                                              parse: { PupilSourceSettings(remote: $0).host == nil ? nil : $0 }, describe: { $0 }),
                at: \.remote, help: "Pupil Remote of the Pupil Capture/Service this stream comes from"),
        Setting("pupil_topic", flag: nil, .parsed(placeholder: "PREFIX", requirement: "a topic prefix starting with gaze. or surfaces.",
                                             parse: { $0.hasPrefix("gaze.") || ($0.hasPrefix("surfaces.") && $0.count > 9) ? $0 : nil },
                                             describe: { $0 }), at: \.topic,
                help: "topic prefix on Pupil's backbone: gaze. (all gaze), gaze.3d.01. (binocular 3D), surfaces.<name> (surface-mapped gaze)"),
        Setting("width_px", flag: nil, .number(in: 1...100_000, placeholder: "PIXELS"), at: \.widthPixels,
                help: "pixels across the surface (or the world camera's frame) that Pupil's normalised x spans"),
        Setting("height_px", flag: nil, .number(in: 1...100_000, placeholder: "PIXELS"), at: \.heightPixels,
                help: "pixels down the surface (or frame) that Pupil's normalised y spans (Pupil's y is flipped: pixels count from the top)"),
    ], defaults: { PupilSourceSettings() })

    /// The loss rule a Pupil stream has unless its entry sets `loss`: below 0.6 confidence,
    /// Pupil's own advice for usable gaze.
    public static let defaultLoss = LossRule.confidenceBelow(0.6)
}
