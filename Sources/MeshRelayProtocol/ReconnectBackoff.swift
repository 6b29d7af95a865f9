/// Exponential backoff with full jitter for agent reconnects: the n-th delay (from 0) is drawn
/// uniformly from `0...min(cap, base · 2ⁿ)` ("Exponential Backoff And Jitter", AWS Architecture
/// Blog, 2015). Full jitter spreads the reconnects of many agents after a server restart.
///
/// Pure: the caller passes the random number generator (a seeded one in tests).
public struct ReconnectBackoff: Sendable, Hashable {
    /// The ceiling of the first delay (default 200 ms).
    public var base: Duration
    /// No delay exceeds this (default 30 s).
    public var cap: Duration
    /// How many delays were drawn since the last ``reset()``.
    public private(set) var attempt: Int = 0

    /// - Parameters:
    ///   - base: The ceiling of the first delay (default 200 ms).
    ///   - cap: The largest possible delay (default 30 s).
    public init(base: Duration = .milliseconds(200), cap: Duration = .seconds(30)) {
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the delay drawn at `attempt`: `min(cap, base · 2^attempt)` (never negative).
    ///
    /// - Parameter attempt: The attempt number, from 0.
    /// - Returns: The largest delay that attempt can draw.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        guard self.base > .zero, self.cap > .zero else {
            return .zero
        }
        var ceiling = self.base
        var doublings = 0
        while doublings < attempt && ceiling < self.cap {
            guard ceiling <= self.cap / 2 else {
                return self.cap
            }
            ceiling *= 2
            doublings += 1
        }
        return min(ceiling, self.cap)
    }

    /// Draws the next delay, uniformly in `0...ceiling(forAttempt: attempt)` at nanosecond
    /// resolution, and advances the attempt.
    ///
    /// - Parameter rng: The random number generator.
    /// - Returns: How long to wait before the next connection attempt.
    public mutating func nextDelay(using rng: inout some RandomNumberGenerator) -> Duration {
        let ceiling = self.ceiling(forAttempt: self.attempt)
        if self.attempt < Int.max {
            self.attempt += 1
        }
        let nanoseconds = Self.nanoseconds(of: ceiling)
        guard nanoseconds > 0 else {
            return .zero
        }
        return .nanoseconds(Int64.random(in: 0...nanoseconds, using: &rng))
    }

    /// Draws the next delay with the system random number generator.
    ///
    /// - Returns: How long to wait before the next connection attempt.
    public mutating func nextDelay() -> Duration {
        var rng = SystemRandomNumberGenerator()
        return self.nextDelay(using: &rng)
    }

    /// Starts over from the first attempt (after a session was established).
    public mutating func reset() {
        self.attempt = 0
    }

    private static func nanoseconds(of duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else {
            return 0
        }
        let (fromSeconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else {
            return Int64.max
        }
        let (total, overflowAdding) = fromSeconds.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowAdding ? Int64.max : total
    }
}
