/// Heartbeat bookkeeping shared by both session state machines (docs/protocol.md, "Session state
/// machines", heartbeats): when our next heartbeat is due and when the peer counts as dead.
struct SessionLiveness: Sendable, Hashable {
    /// A peer from which no frame at all arrived for this many heartbeat intervals is dead.
    static let silentIntervalsBeforeDead = 3

    /// How often each side sends a heartbeat (from WELCOME).
    let interval: Duration
    /// When the last frame (of any type) from the peer arrived.
    private(set) var lastReceived: ContinuousClock.Instant
    /// When our next heartbeat is due.
    private(set) var nextHeartbeat: ContinuousClock.Instant
    /// The sequence number of the last heartbeat sent (the first one carries 1).
    private(set) var sequence: UInt64 = 0

    init(interval: Duration, now: ContinuousClock.Instant) {
        self.interval = interval
        self.lastReceived = now
        self.nextHeartbeat = now + interval
    }

    /// The instant from which the peer is declared dead unless a frame arrives before.
    var deadline: ContinuousClock.Instant {
        self.lastReceived + self.interval * Self.silentIntervalsBeforeDead
    }

    /// The earliest instant at which ``heartbeatIfDue(now:)`` or ``isPeerDead(now:)`` changes.
    var nextEvent: ContinuousClock.Instant {
        min(self.nextHeartbeat, self.deadline)
    }

    /// A frame arrived from the peer.
    mutating func frameReceived(now: ContinuousClock.Instant) {
        self.lastReceived = max(self.lastReceived, now)
    }

    /// `true` once the peer has been silent for ``silentIntervalsBeforeDead`` intervals.
    func isPeerDead(now: ContinuousClock.Instant) -> Bool {
        now >= self.deadline
    }

    /// The heartbeat to send if one is due. A late timer sends one heartbeat, not a burst, and
    /// the schedule stays on the interval grid.
    mutating func heartbeatIfDue(now: ContinuousClock.Instant) -> Heartbeat? {
        guard now >= self.nextHeartbeat else {
            return nil
        }
        repeat {
            self.nextHeartbeat += self.interval
        } while self.nextHeartbeat <= now
        self.sequence &+= 1
        return Heartbeat(sequence: self.sequence)
    }

    /// The sequence number of a heartbeat sent outside the schedule (which stays as it is).
    mutating func nextSequence() -> UInt64 {
        self.sequence &+= 1
        return self.sequence
    }
}

extension Duration {
    /// The duration in whole milliseconds, clamped to `0...UInt32.max` (wire fields are `uint32`).
    var relayClampedMilliseconds: UInt32 {
        let (seconds, attoseconds) = self.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else {
            return 0
        }
        let (fromSeconds, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        guard !overflow else {
            return UInt32.max
        }
        let total = fromSeconds + attoseconds / 1_000_000_000_000_000
        guard total > 0 else {
            return 0
        }
        return total >= Int64(UInt32.max) ? UInt32.max : UInt32(total)
    }
}
