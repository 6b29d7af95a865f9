public import Foundation

/// RFC 3339 timestamps in UTC with second precision, as Kubernetes writes them.
public enum RFC3339 {
    /// `2026-11-30T14:22:11Z`.
    public static func string(from date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }
}
