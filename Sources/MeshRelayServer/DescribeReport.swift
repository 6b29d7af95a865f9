import Foundation
import MeshRelayModel
import MeshRelayStore
import MeshRelayTranslation

/// `GET /api/v1/namespaces/NS/externalservices/NAME/describe` (`meshrelay describe
/// externalservice`): the resource's state, what it becomes in each cluster it is meant for, and
/// its recent events. docs/api.md.
public struct DescribeReport: Codable, Sendable, Hashable {
    /// A host:port the service asks for, and who asks for it too, winner first.
    public struct Claim: Codable, Sendable, Hashable {
        public var target: String
        /// `ExternalService NS/NAME`, in precedence order (oldest first): the first wins.
        public var claimants: [String]
        /// Whether this service is the one that wins it.
        public var wins: Bool
    }

    public struct Cluster: Codable, Sendable, Hashable {
        public var name: String
        /// `NS/NAME` of the ExternalEndpoints the selector picks in this cluster.
        public var selectedEndpoints: [String]
        public var warnings: [String]
        /// Why the service is left out entirely, if it is.
        public var failure: String?
        /// Only the host:ports another service also asks for.
        public var conflicts: [Claim]
    }

    public var resource: StatusReport.ResourceEntry
    public var clusters: [Cluster]
    public var events: [ResourceEvent]

    /// The report of `stored` among `resources` (everything stored). Clusters that see the same
    /// resources under the same policy share one translation (with many clusters, most do).
    static func make(stored: StoredResource, resources: [StoredResource], context: StatusContext, events: [ResourceEvent]) -> DescribeReport {
        let key = stored.key
        let gateway = GatewayConfiguration(configDirectory: "/describe", httpListener: SocketAddress(host: "0.0.0.0", port: 15080))
        let distributed = resources.filter { $0.key.kind == .externalService || $0.key.kind == .externalEndpoint }
        let targets = distributed.map { Set(context.targetClusters(of: $0.key)) }
        struct Group: Hashable {
            var members: [Int]
            var policy: OutboundPolicy
        }
        var described: [Group: Cluster] = [:]
        let clusters = context.targetClusters(of: key).map { cluster -> Cluster in
            let policy = context.clusterRecords[cluster]?.outboundPolicy.flatMap(OutboundPolicy.init(rawValue:)) ?? .registryOnly
            let group = Group(members: distributed.indices.filter { targets[$0].contains(cluster) }, policy: policy)
            var result = described[group] ?? describe(key, members: group.members.map { distributed[$0] }, policy: policy, gateway: gateway)
            described[group] = result
            result.name = cluster
            return result
        }
        return DescribeReport(resource: context.entry(for: stored), clusters: clusters, events: events)
    }

    /// What `key` becomes among `members` (one cluster's ExternalServices and ExternalEndpoints).
    private static func describe(_ key: ResourceKey, members: [StoredResource], policy: OutboundPolicy, gateway: GatewayConfiguration) -> Cluster {
        let inCluster = members.map { candidate -> Resource in
            var resource = candidate.resource
            resource.metadata.creationTimestamp = RFC3339.string(from: candidate.createdAt)
            return resource
        }
        let input = TranslationInput(resources: inCluster, policy: policy, gateway: gateway, versionInfo: "describe")
        guard let described = Translator.describe(key, in: input) else {
            return Cluster(name: "", selectedEndpoints: [], warnings: [], failure: nil, conflicts: [])
        }
        let name = { (key: ResourceKey) in "\(key.kind.rawValue) \(key.namespace)/\(key.name)" }
        return Cluster(
            name: "", selectedEndpoints: described.selectedEndpoints.map { "\($0.namespace)/\($0.name)" },
            warnings: described.warnings, failure: described.failure,
            conflicts: described.conflicts.map { Claim(target: $0.target, claimants: $0.claimants.map(name), wins: $0.winner == key) }
        )
    }
}
