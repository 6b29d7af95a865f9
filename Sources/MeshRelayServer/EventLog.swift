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
/// 1,000 agents records 1,000 of them per write): the clusters of a merged `applied` event are
/// kept as a list plus a set, and its message is written when the events are read.
public final class EventLog: Sendable {
    /// Events kept per resource.
    public static let perResource = 20

    /// An event as kept: for `applied`, the clusters so far and the time of the last report
    /// (message and time are written on reading).
    struct Entry: Sendable {
        var event: ResourceEvent
        /// Every cluster of an `applied` event, while it is the resource's latest event (a later
        /// report can only join the latest one); dropped when a newer event follows.
        var clusterSet: Set<String> = []
        /// How many clusters applied (the event names at most ``EventLog/namedClusters``).
        var clusterCount = 0
        var appliedAt: Date?

        var resolved: ResourceEvent {
            guard event.type == "applied" else { return event }
            var resolved = event
            resolved.message = "applied by " + event.clusters.joined(separator: ", ")
            if clusterCount > event.clusters.count { resolved.message += " and \(clusterCount - event.clusters.count) more" }
            if let appliedAt { resolved.time = RFC3339.string(from: appliedAt) }
            return resolved
        }
    }

    /// Clusters named in one `applied` event; the others are counted ("and 950 more"). With
    /// 1,000 clusters, 20 events per resource naming them all kept megabytes per resource.
    static let namedClusters = 50

    private let entries = Mutex<[ResourceKey: [Entry]]>([:])

    public init() {}

    /// The events of `key`, oldest first.
    public func events(for key: ResourceKey) -> [ResourceEvent] {
        entries.withLock { $0[key] ?? [] }.map(\.resolved)
    }

    /// A new generation of `key` was committed.
    public func committed(_ key: ResourceKey, generation: Int64, at date: Date) {
        append(ResourceEvent(type: "committed", time: RFC3339.string(from: date), generation: generation, message: "generation \(generation) committed"), to: key)
    }

    /// A resource was deleted: its events go with it.
    public func deleted(_ key: ResourceKey) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    /// What agents acknowledged (not what a reconnecting agent says it still holds).
    public func acknowledged(_ records: [ResourceStatusRecord]) {
        // One lock for the ACK (an initial sync acknowledges thousands of resources at once).
        entries.withLock { entries in
            for record in records {
                switch record.state {
                case .applied:
                    // Mutated in place: a copy of the list per acknowledgement would cost as much
                    // as the list.
                    entries[record.key, default: []].mergeApplied(cluster: record.cluster, generation: record.observedGeneration, at: record.updatedAt)
                case .failed:
                    let time = RFC3339.string(from: record.updatedAt)
                    entries[record.key, default: []].appendBounded(
                        Entry(
                            event: ResourceEvent(
                                type: "nacked", time: time, generation: record.observedGeneration, clusters: [record.cluster], message: record.message
                            )
                        )
                    )
                case .warning:
                    let time = RFC3339.string(from: record.updatedAt)
                    let type = record.message.contains("already claimed by") ? "conflict" : "warning"
                    entries[record.key, default: []].appendBounded(
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
        entries.withLock { entries in
            entries[key, default: []].appendBounded(Entry(event: event))
        }
    }
}

extension [EventLog.Entry] {
    /// Adds `cluster` to the last event if it is the `applied` event of `generation`, else
    /// appends a new `applied` event.
    mutating func mergeApplied(cluster: String, generation: Int64, at date: Date) {
        if let last = indices.last, self[last].event.type == "applied", self[last].event.generation == generation {
            if self[last].clusterSet.insert(cluster).inserted {
                self[last].clusterCount += 1
                if self[last].event.clusters.count < EventLog.namedClusters { self[last].event.clusters.append(cluster) }
            }
            self[last].appliedAt = date
        } else {
            appendBounded(
                EventLog.Entry(
                    event: ResourceEvent(type: "applied", time: "", generation: generation, clusters: [cluster], message: ""),
                    clusterSet: [cluster], clusterCount: 1, appliedAt: date
                )
            )
        }
    }

    /// Appends, dropping the oldest beyond ``EventLog/perResource``.
    mutating func appendBounded(_ entry: EventLog.Entry) {
        if let last = indices.last { self[last].clusterSet = [] }
        append(entry)
        if count > EventLog.perResource { removeFirst(count - EventLog.perResource) }
    }
}
