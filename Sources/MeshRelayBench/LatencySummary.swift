/// The p50, p99 and maximum of a set of latencies, in milliseconds.
///
/// Percentiles are nearest-rank: the p-th percentile of n sorted samples is the sample of rank
/// ⌈p/100 × n⌉ (1-based), so every reported figure is a latency that was really observed. An
/// empty set reports zeros with `count` 0.
public struct LatencySummary: Sendable, Hashable {
    /// How many samples.
    public var count: Int
    /// The median.
    public var p50: Double
    /// The 99th percentile.
    public var p99: Double
    /// The largest sample.
    public var max: Double

    /// Summarises `samples` (any order).
    ///
    /// - Parameter samples: Latencies in milliseconds.
    public init(milliseconds samples: [Double]) {
        let sorted = samples.sorted()
        self.count = sorted.count
        self.p50 = Self.percentile(50, ofSorted: sorted)
        self.p99 = Self.percentile(99, ofSorted: sorted)
        self.max = sorted.last ?? 0
    }

    /// The nearest-rank percentile of already sorted samples.
    ///
    /// - Parameters:
    ///   - percent: 0–100.
    ///   - sorted: Samples in ascending order.
    /// - Returns: The sample of rank ⌈percent/100 × count⌉ (at least rank 1), or 0 for no samples.
    public static func percentile(_ percent: Double, ofSorted sorted: [Double]) -> Double {
        guard !sorted.isEmpty else {
            return 0
        }
        let rank = Int((percent / 100 * Double(sorted.count)).rounded(.up))
        let index = Swift.min(Swift.max(rank, 1), sorted.count) - 1
        return sorted[index]
    }
}

extension Duration {
    /// The duration in (fractional) milliseconds.
    var benchMilliseconds: Double {
        let parts = self.components
        return Double(parts.seconds) * 1000 + Double(parts.attoseconds) / 1e15
    }

    /// The duration in (fractional) seconds.
    var benchSeconds: Double {
        self.benchMilliseconds / 1000
    }
}
