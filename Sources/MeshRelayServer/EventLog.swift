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
public final class EventLog: Sendable {
    /// Events kept per resource.
    public static let perResource = 20

    private let events = Mutex<[ResourceKey: [ResourceEvent]]>([:])

    public init() {}

    /// The events of `key`, oldest first.
    public func events(for key: ResourceKey) -> [ResourceEvent] {
        events.withLock { $0[key] ?? [] }
    }

    /// A new generation of `key` was committed.
    public func committed(_ key: ResourceKey, generation: Int64, at date: Date) {
        append(ResourceEvent(type: "committed", time: RFC3339.string(from: date), generation: generation, message: "generation \(generation) committed"), to: key)
    }

    /// A resource was deleted: its events go with it.
    public func deleted(_ key: ResourceKey) {
        _ = events.withLock { $0.removeValue(forKey: key) }
    }

    /// What agents acknowledged (not what a reconnecting agent says it still holds).
    public func acknowledged(_ records: [ResourceStatusRecord]) {
        for record in records {
            let time = RFC3339.string(from: record.updatedAt)
            switch record.state {
            case .applied:
                events.withLock { events in
                    var list = events[record.key] ?? []
                    if let last = list.indices.last, list[last].type == "applied", list[last].generation == record.observedGeneration {
                        if !list[last].clusters.contains(record.cluster) { list[last].clusters.append(record.cluster) }
                        list[last].time = time
                        list[last].message = "applied by " + list[last].clusters.joined(separator: ", ")
                    } else {
                        list.append(
                            ResourceEvent(
                                type: "applied", time: time, generation: record.observedGeneration, clusters: [record.cluster],
                                message: "applied by \(record.cluster)"
                            )
                        )
                    }
                    events[record.key] = Array(list.suffix(Self.perResource))
                }
            case .failed:
                append(
                    ResourceEvent(type: "nacked", time: time, generation: record.observedGeneration, clusters: [record.cluster], message: record.message),
                    to: record.key
                )
            case .warning:
                let type = record.message.contains("already claimed by") ? "conflict" : "warning"
                append(
                    ResourceEvent(type: type, time: time, generation: record.observedGeneration, clusters: [record.cluster], message: record.message),
                    to: record.key
                )
            case .pending:
                continue
            }
        }
    }

    private func append(_ event: ResourceEvent, to key: ResourceKey) {
        events.withLock { events in
            var list = events[key] ?? []
            list.append(event)
            events[key] = Array(list.suffix(Self.perResource))
        }
    }
}
