public import Foundation
public import MeshRelayModel
public import MeshRelayStore
import Synchronization

/// One thing that happened to a resource, as `describe` lists it.
public struct ResourceEvent: Codable, Sendable, Hashable {
    /// `committed` (a new generation through the API), `applied`, `nacked`, `warning`,
    /// `conflict` (a warning that another service wins a shared host:port).
    public var type: String
    /// When it happened (RFC 3339); for a merged `applied`, the last cluster's report.
    public var time: String
    public var generation: Int64
    /// The clusters it happened in (empty for `committed`).
    public var clusters: [String]
    public var message: String

    public init(type: String, time: String, generation: Int64, clusters: [String] = [], message: String) {
        self.type = type
        self.time = time
        self.generation = generation
        self.clusters = clusters
        self.message = message
    }
}

/// The recent events of every resource, in memory (like Kubernetes events, they are not
/// durable: a restarted server starts with none, and with several replicas each keeps the events
/// it saw). At most ``perResource`` per resource; the clusters that applied one generation
/// share one `applied` event.
///
/// Recording an acknowledgement costs the same whatever the number of clusters (a fan-out to
/// 1,000 agents records 1,000 of them per write), and little per resource (an initial sync of
/// 10,000 resources to 100 agents records 1,000,000): cluster names are numbered once, a merged
/// `applied` event keeps which clusters it has as a bit set of those numbers, and its message is
/// written when the events are read.
public final class EventLog: Sendable {
    /// Events kept per resource.
    public static let perResource = 20

    /// An event as kept: for `applied`, the clusters so far and the time of the last report
    /// (message and time are written on reading).
    struct Entry: Sendable {
        var event: ResourceEvent
        /// Whether this is a merged `applied` event.
        var isApplied = false
        /// The numbers of the clusters of an `applied` event, as bits, while it is the resource's
        /// latest event (a later report can only join the latest one); dropped when a newer event
        /// follows.
        var clusterBits: [UInt64] = []
        /// How many clusters applied (the event names at most ``EventLog/namedClusters``).
        var clusterCount = 0
        var appliedAt: Date?

        var resolved: ResourceEvent {
            guard isApplied else { return event }
            var resolved = event
            resolved.message = "applied by " + event.clusters.joined(separator: ", ")
            if clusterCount > event.clusters.count { resolved.message += " and \(clusterCount - event.clusters.count) more" }
            if let appliedAt { resolved.time = RFC3339.string(from: appliedAt) }
            return resolved
        }

        /// Adds cluster number `id`; false if it was there.
        mutating func insert(cluster id: Int) -> Bool {
            let word = id / 64
            let bit = UInt64(1) << UInt64(id % 64)
            if clusterBits.count <= word { clusterBits.append(contentsOf: repeatElement(0, count: word + 1 - clusterBits.count)) }
            if clusterBits[word] & bit != 0 { return false }
            clusterBits[word] |= bit
            return true
        }
    }

    /// Clusters named in one `applied` event; the others are counted ("and 950 more"). With
    /// 1,000 clusters, 20 events per resource naming them all kept megabytes per resource.
    static let namedClusters = 50

    struct State {
        var entries: [ResourceKey: [Entry]] = [:]
        /// A number per cluster name seen, for the bit sets of `applied` events.
        var clusterNumbers: [String: Int] = [:]

        mutating func number(of cluster: String) -> Int {
            if let number = clusterNumbers[cluster] { return number }
            let number = clusterNumbers.count
            clusterNumbers[cluster] = number
            return number
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// The events of `key`, oldest first.
    public func events(for key: ResourceKey) -> [ResourceEvent] {
        state.withLock { $0.entries[key] ?? [] }.map(\.resolved)
    }

    /// A new generation of `key` was committed.
    public func committed(_ key: ResourceKey, generation: Int64, at date: Date) {
        append(ResourceEvent(type: "committed", time: RFC3339.string(from: date), generation: generation, message: "generation \(generation) committed"), to: key)
    }

    /// A resource was deleted: its events go with it.
    public func deleted(_ key: ResourceKey) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    /// What agents acknowledged (not what a reconnecting agent says it still holds).
    public func acknowledged(_ records: [ResourceStatusRecord]) {
        // One lock for the ACK (an initial sync acknowledges thousands of resources at once).
        state.withLock { state in
            // The records of an ACK are of one cluster: its number is looked up once.
            var cluster: (name: String, number: Int)?
            // By index, reading only the fields used: a copy of each record (six references
            // retained and released) was 3.5 % of the server's CPU in an initial sync.
            for index in records.indices {
                switch records[index].state {
                case .applied:
                    let number: Int
                    if let cluster, cluster.name == records[index].cluster {
                        number = cluster.number
                    } else {
                        number = state.number(of: records[index].cluster)
                        cluster = (records[index].cluster, number)
                    }
                    // Mutated in place: a copy of the list per acknowledgement would cost as much
                    // as the list.
                    state.entries[records[index].key, default: []].mergeApplied(
                        cluster: records[index].cluster, number: number, generation: records[index].observedGeneration,
                        at: records[index].updatedAt
                    )
                case .failed:
                    let record = records[index]
                    let time = RFC3339.string(from: record.updatedAt)
                    state.entries[record.key, default: []].appendBounded(
                        Entry(
                            event: ResourceEvent(
                                type: "nacked", time: time, generation: record.observedGeneration, clusters: [record.cluster], message: record.message
                            )
                        )
                    )
                case .warning:
                    let record = records[index]
                    let time = RFC3339.string(from: record.updatedAt)
                    let type = record.message.contains("already claimed by") ? "conflict" : "warning"
                    state.entries[record.key, default: []].appendBounded(
                        Entry(
                            event: ResourceEvent(type: type, time: time, generation: record.observedGeneration, clusters: [record.cluster], message: record.message)
                        )
                    )
                case .pending:
                    continue
                }
            }
        }
    }

    private func append(_ event: ResourceEvent, to key: ResourceKey) {
        state.withLock { state in
            state.entries[key, default: []].appendBounded(Entry(event: event))
        }
    }
}

extension [EventLog.Entry] {
    /// Adds `cluster` (numbered `number`) to the last event if it is the `applied` event of
    /// `generation`, else appends a new `applied` event.
    mutating func mergeApplied(cluster: String, number: Int, generation: Int64, at date: Date) {
        // One access to the last entry (each `self[last].field` was a bounds and uniqueness check).
        if let last = indices.last, Self.join(&self[last], cluster: cluster, number: number, generation: generation, at: date) { return }
        var entry = EventLog.Entry(
            event: ResourceEvent(type: "applied", time: "", generation: generation, clusters: [cluster], message: ""),
            isApplied: true, clusterCount: 1, appliedAt: date
        )
        _ = entry.insert(cluster: number)
        appendBounded(entry)
    }

    /// Adds the cluster to `entry` if it is the `applied` event of `generation`; false if not.
    private static func join(_ entry: inout EventLog.Entry, cluster: String, number: Int, generation: Int64, at date: Date) -> Bool {
        guard entry.isApplied, entry.event.generation == generation else { return false }
        if entry.insert(cluster: number) {
            entry.clusterCount += 1
            if entry.event.clusters.count < EventLog.namedClusters { entry.event.clusters.append(cluster) }
        }
        entry.appliedAt = date
        return true
    }

    /// Appends, dropping the oldest beyond ``EventLog/perResource``.
    mutating func appendBounded(_ entry: EventLog.Entry) {
        if let last = indices.last { self[last].clusterBits = [] }
        append(entry)
        if count > EventLog.perResource { removeFirst(count - EventLog.perResource) }
    }
}
