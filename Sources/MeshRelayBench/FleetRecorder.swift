import Synchronization

/// What the simulated agents observed, shared between their event loops and the scenario. Every
/// access takes one lock; the agents append (a few operations per frame), the scenario polls.
final class FleetRecorder: Sendable {
    /// One ACK written by an agent.
    struct AckEvent: Sendable {
        var revision: Int64
        var at: ContinuousClock.Instant
    }

    /// What one agent observed.
    struct AgentRecord: Sendable {
        /// Every ACK written, in order (only when the recorder keeps them).
        var acks: [AckEvent] = []
        /// The revision of the last ACK written (-1: none).
        var lastAckRevision: Int64 = -1
        /// WELCOMEs received.
        var welcomes = 0
        /// The server replica of the current session.
        var serverID: String?
        /// Between WELCOME and the close of that connection.
        var established = false
        /// Relay frame bytes received (headers included; TLS overhead not counted).
        var bytesReceived = 0
        /// UPDATE frames received.
        var updates = 0
        /// Resources upserted by those UPDATEs.
        var upsertsReceived = 0
        /// Removals in those UPDATEs.
        var removalsReceived = 0
        /// Connections that ended.
        var disconnects = 0
        /// Why the machine last closed, for diagnostics.
        var lastClose: String?
    }

    /// Totals over the agents.
    struct Totals: Sendable, Hashable {
        var bytesReceived = 0
        var updates = 0
        var upsertsReceived = 0
        var removalsReceived = 0
        var welcomes = 0
    }

    /// One lock per agent: the agents' event loops record every message, and with one lock for
    /// the fleet they (and the waiting scenario) contended on it at every ACK.
    private let records: [AgentBox]
    /// Keep every ACK (fanout, churn) or only the last revision.
    let keepsAcks: Bool

    private final class AgentBox: Sendable {
        let record = Mutex(AgentRecord())
        /// `record.lastAckRevision`, readable without the lock: the scenario polls every agent
        /// each millisecond while a write fans out, and taking 1,000 locks per poll contended
        /// with the agents' event loops.
        let lastAckRevision = Atomic<Int64>(-1)
    }

    /// - Parameters:
    ///   - agents: How many agents.
    ///   - keepsAcks: Keep every ACK event.
    init(agents: Int, keepsAcks: Bool) {
        self.records = (0..<agents).map { _ in AgentBox() }
        self.keepsAcks = keepsAcks
    }

    /// Changes the record of agent `index`.
    func update(_ index: Int, _ body: (inout AgentRecord) -> Void) {
        guard self.records.indices.contains(index) else {
            return
        }
        self.records[index].record.withLock { body(&$0) }
    }

    /// An agent wrote the ACK of `revision` at `at`.
    func ackWritten(_ index: Int, revision: Int64, at: ContinuousClock.Instant) {
        let keep = self.keepsAcks
        guard self.records.indices.contains(index) else {
            return
        }
        let box = self.records[index]
        box.record.withLock { record in
            record.lastAckRevision = Swift.max(record.lastAckRevision, revision)
            if keep {
                record.acks.append(AckEvent(revision: revision, at: at))
            }
            // Under the record's lock, so the atomic never goes back.
            box.lastAckRevision.store(record.lastAckRevision, ordering: .releasing)
        }
    }

    /// Reads a copy of the records (each read under its lock).
    func read<Result: Sendable>(_ body: ([AgentRecord]) -> Result) -> Result {
        body(self.records.map { $0.record.withLock { $0 } })
    }

    /// How many agents wrote an ACK of `revision` or later.
    func agentsAcked(atLeast revision: Int64) -> Int {
        self.records.count { $0.lastAckRevision.load(ordering: .acquiring) >= revision }
    }

    /// Sums over every agent.
    func totals() -> Totals {
        self.read { records in
            var totals = Totals()
            for record in records {
                totals.bytesReceived += record.bytesReceived
                totals.updates += record.updates
                totals.upsertsReceived += record.upsertsReceived
                totals.removalsReceived += record.removalsReceived
                totals.welcomes += record.welcomes
            }
            return totals
        }
    }

    /// Per agent, the time from `sentAt` to its first ACK of `revision` or later (`nil` for an
    /// agent that has not acknowledged it).
    func latencies(revision: Int64, sentAt: ContinuousClock.Instant) -> [Duration?] {
        self.read { records in
            records.map { record in
                Self.firstAck(in: record.acks, atLeast: revision).map { sentAt.duration(to: $0) }
            }
        }
    }

    /// The instant of the first ACK of `revision` or later in `acks` (ascending revisions).
    static func firstAck(in acks: [AckEvent], atLeast revision: Int64) -> ContinuousClock.Instant? {
        var low = 0
        var high = acks.count
        while low < high {
            let middle = (low + high) / 2
            if acks[middle].revision < revision {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low < acks.count ? acks[low].at : nil
    }
}
