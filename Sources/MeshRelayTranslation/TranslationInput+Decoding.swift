public import MeshRelayModel
import Foundation

extension TranslationInput {
    /// Builds the input from resources as the agent holds them (`RelayResource`: kind, namespace,
    /// name, labels, canonical spec JSON). A resource whose spec does not decode is kept as an
    /// undecodable FAILED outcome; other kinds than ExternalService and ExternalEndpoint are
    /// ignored.
    /// - Parameters:
    ///   - resources: The cluster's resources, in any order.
    ///   - policy: The cluster's outbound policy.
    ///   - gateway: Listeners and config directory of the egress gateway.
    ///   - versionInfo: The `version_info` to stamp on the Envoy files (the snapshot revision).
    public init(
        resources: [RawSnapshotResource],
        policy: OutboundPolicy,
        gateway: GatewayConfiguration,
        versionInfo: String
    ) {
        var services: [SnapshotService] = []
        var endpoints: [SnapshotEndpoint] = []
        var undecodable: [ResourceKey: String] = [:]
        for resource in resources {
            guard let kind = ResourceKind(rawValue: resource.kind),
                kind == .externalService || kind == .externalEndpoint
            else { continue }
            let key = ResourceKey(kind: kind, namespace: resource.namespace, name: resource.name)
            do {
                switch try ResourceSpec.decode(kind: kind, json: Data(resource.specJSON)) {
                case .externalService(let spec):
                    services.append(
                        SnapshotService(
                            namespace: resource.namespace, name: resource.name, labels: resource.labels,
                            creationTimestamp: resource.creationTimestamp, spec: spec))
                case .externalEndpoint(let spec):
                    endpoints.append(
                        SnapshotEndpoint(namespace: resource.namespace, name: resource.name, labels: resource.labels, spec: spec))
                case .workspace, .kubernetesCluster:
                    continue
                }
            } catch {
                undecodable[key] =
                    "the spec does not decode as \(kind.rawValue) (\(error)); the server sent a spec this agent cannot read: upgrade the agent or re-apply the resource"
            }
        }
        self.init(services: services, endpoints: endpoints, policy: policy, gateway: gateway, versionInfo: versionInfo)
        self.undecodable = undecodable
    }
}

extension TranslationInput {
    /// Builds the input from decoded resources (ExternalServices and ExternalEndpoints; other kinds
    /// are ignored), taking labels and `creationTimestamp` from their metadata.
    /// - Parameters:
    ///   - resources: The cluster's resources.
    ///   - policy: The cluster's outbound policy.
    ///   - gateway: Listeners and config directory of the egress gateway.
    ///   - versionInfo: The `version_info` to stamp on the Envoy files.
    public init(resources: [Resource], policy: OutboundPolicy, gateway: GatewayConfiguration, versionInfo: String) {
        var services: [SnapshotService] = []
        var endpoints: [SnapshotEndpoint] = []
        for resource in resources {
            let meta = resource.metadata
            switch resource.spec {
            case .externalService(let spec):
                services.append(
                    SnapshotService(
                        namespace: meta.namespace, name: meta.name, labels: meta.labels ?? [:],
                        creationTimestamp: meta.creationTimestamp, spec: spec))
            case .externalEndpoint(let spec):
                endpoints.append(SnapshotEndpoint(namespace: meta.namespace, name: meta.name, labels: meta.labels ?? [:], spec: spec))
            case .workspace, .kubernetesCluster:
                continue
            }
        }
        self.init(services: services, endpoints: endpoints, policy: policy, gateway: gateway, versionInfo: versionInfo)
    }
}
