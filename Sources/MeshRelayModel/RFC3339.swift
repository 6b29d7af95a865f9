public import Foundation

/// RFC 3339 timestamps in UTC with second precision, as Kubernetes writes them.
public enum RFC3339 {
    /// `2026-11-30T14:22:11Z`.
    public static func string(from date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }

    /// The date of `2026-11-30T14:22:11Z` (what ``string(from:)`` writes); nil for anything else.
    public static func date(from text: String) -> Date? {
        try? Date.ISO8601FormatStyle().parse(text)
    }
}

/// kubectl-style ages: `45s`, `12m`, `3h`, `5d`.
public enum KubectlAge {
    /// The age of something created at `date`, seen at `now`.
    public static func string(from date: Date, to now: Date) -> String {
        let seconds = max(0, Int(now.timeIntervalSince(date)))
        switch seconds {
        case ..<120: return "\(seconds)s"
        case ..<7200: return "\(seconds / 60)m"
        case ..<172_800: return "\(seconds / 3600)h"
        default: return "\(seconds / 86400)d"
        }
    }
}
