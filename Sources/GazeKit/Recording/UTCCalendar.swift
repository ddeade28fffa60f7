#if canImport(Glibc)
import Glibc
#endif

/// UTC dates and timestamps as recordings and reports name them: a recording file is
/// `<stream>/<YYYY-MM-DD>.csv` for the UTC day it was written, a report `<YYYYMMDDTHHMMSSZ>`.
public enum UTCCalendar {
    /// Offsets in seconds are clamped to ±`maximumOffset` (about 317 years), so that no setting
    /// can overflow `time_t` arithmetic; callers bound their settings far below it.
    public static let maximumOffset = 1e10

    /// The UTC day `secondsAgo` seconds before now, `YYYY-MM-DD` (the recording file name).
    public static func day(secondsAgo: Double = 0) -> String {
        let parts = brokenDown(secondsAgo: secondsAgo)
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))"
    }

    /// Now in UTC, ISO 8601 to the second: `2026-11-25T05:30:00Z`.
    public static func timestamp() -> String {
        let parts = brokenDown(secondsAgo: 0)
        return day() + "T\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))Z"
    }

    static func brokenDown(secondsAgo: Double) -> tm {
        let offset = secondsAgo.isNaN ? 0 : min(max(secondsAgo, -maximumOffset), maximumOffset)
        var moment = time(nil) - time_t(offset)
        var parts = tm()
        gmtime_r(&moment, &parts)
        return parts
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
