import Foundation
import MeshRelayModel
import MeshRelayStore

/// The status writes of every session since the last commit, merged so that one store
/// transaction per kind carries them (group commit): a write fanned out to 1,000 agents comes
/// back as 2,000 status writes (the ACK's resource rows, the cluster's applied revision), which
/// one at a time kept the store's single writer busy for longer than the fan-out itself and
/// delayed the next API write behind them.
///
/// Merging keeps the outcome of applying the writes one by one in arrival order:
/// - resource rows: passed on in arrival order per cluster (the store applies them in order, so
///   the last row per cluster and resource wins). They are not deduplicated here: only FAILED and
///   WARNING are stored, and an APPLIED row costs the store nothing for a cluster without kept
///   exceptions, so hashing every row of a batch (under churn, 20 ACKs per cluster per commit)
///   cost more than it saved;
/// - cluster records: the last record per cluster wins, until that cluster's session is marked
///   disconnected — a record saved after the mark must be written after it, so the mark ends a
///   step and later records start the next one.
///
/// Pure: ``RelayHub`` fills it from the sessions' event loops and a single task commits it.
struct StatusBatch: Sendable {
    /// One store call of a commit, in order.
    enum Step: Sendable, Equatable {
        case resources([ResourceStatusRecord])
        case clusters([ClusterStatusRecord])
        case markDisconnected(cluster: String, at: Date)
    }

    /// Resource rows by cluster, then by ACK in arrival order (the rows of one ACK are of one
    /// cluster).
    private var resources: [String: [[ResourceStatusRecord]]] = [:]
    /// Cluster steps closed by a disconnection mark, in order.
    private var closedSteps: [Step] = []
    /// The cluster records since the last mark (last per cluster wins), in first-seen order.
    /// Kept out of `closedSteps` so that adding one mutates in place (an enum payload would be
    /// copied per record: quadratic at 1,000 sessions).
    private var openRecords: [String: ClusterStatusRecord] = [:]
    private var openOrder: [String] = []

    var isEmpty: Bool { resources.isEmpty && closedSteps.isEmpty && openRecords.isEmpty }

    /// Resource rows an agent acknowledged or reported holding.
    mutating func add(resources records: [ResourceStatusRecord]) {
        guard let cluster = records.first?.cluster else { return }
        resources[cluster, default: []].append(records)
    }

    /// A cluster's connection record (connected, applied revision, data plane).
    mutating func save(_ record: ClusterStatusRecord) {
        if openRecords.updateValue(record, forKey: record.cluster) == nil { openOrder.append(record.cluster) }
    }

    /// The session of `cluster` held by this replica ended.
    mutating func markDisconnected(cluster: String, at date: Date) {
        closeOpenRecords()
        closedSteps.append(.markDisconnected(cluster: cluster, at: date))
    }

    private mutating func closeOpenRecords() {
        guard !openOrder.isEmpty else { return }
        closedSteps.append(.clusters(openOrder.compactMap { openRecords[$0] }))
        openRecords = [:]
        openOrder = []
    }

    /// The most resource rows in one ``Step/resources(_:)`` (one store transaction, so that API
    /// writes queue behind at most this many), unless one ACK alone has more: that ACK is a step
    /// of its own, passed on without a copy (an initial sync of 10,000 resources to 100 agents
    /// copied a million rows twice, 7 % of the server's CPU).
    static let rowsPerStep = 2_000

    /// The store calls that commit the batch: the resource rows, then the cluster steps in order.
    var steps: [Step] {
        var steps: [Step] = []
        var rows: [ResourceStatusRecord] = []
        for acks in resources.values {
            for ack in acks {
                if ack.count >= Self.rowsPerStep {
                    if !rows.isEmpty { steps.append(.resources(rows)) }
                    rows = []
                    steps.append(.resources(ack))
                    continue
                }
                if rows.count + ack.count > Self.rowsPerStep {
                    steps.append(.resources(rows))
                    rows = []
                }
                rows += ack
            }
        }
        if !rows.isEmpty { steps.append(.resources(rows)) }
        steps += closedSteps
        if !openOrder.isEmpty { steps.append(.clusters(openOrder.compactMap { openRecords[$0] })) }
        return steps
    }
}
