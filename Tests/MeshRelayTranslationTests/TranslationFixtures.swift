import Foundation
import MeshRelayModel
import MeshRelayTesting
import MeshRelayTranslation

/// Inputs shared by the translation suites.
enum TranslationFixtures {
    static let gateway = GatewayConfiguration(
        configDirectory: "/etc/meshrelay/envoy",
        httpListener: SocketAddress(host: "0.0.0.0", port: 15080),
        tlsListener: SocketAddress(host: "0.0.0.0", port: 15443),
        transparentListener: SocketAddress(host: "0.0.0.0", port: 15001)
    )

    static func service(
        _ name: String, namespace: String = "global", hosts: [String]? = nil, addresses: [String]? = nil,
        ports: [ExternalServicePort] = [ExternalServicePort(name: "http", number: 80, protocol: .http)],
        selector: [String: String]? = nil, created: String? = nil
    ) -> SnapshotService {
        SnapshotService(
            namespace: namespace, name: name, creationTimestamp: created,
            spec: ExternalServiceSpec(hosts: hosts, addresses: addresses, ports: ports, selector: selector))
    }

    static func endpoint(
        _ name: String, namespace: String = "global", address: String, ports: [EndpointPort], labels: [String: String]
    ) -> SnapshotEndpoint {
        SnapshotEndpoint(namespace: namespace, name: name, labels: labels, spec: ExternalEndpointSpec(address: address, ports: ports))
    }

    static func input(
        _ services: [SnapshotService], endpoints: [SnapshotEndpoint] = [], policy: OutboundPolicy = .registryOnly,
        gateway: GatewayConfiguration = gateway, version: String = "7"
    ) -> TranslationInput {
        TranslationInput(services: services, endpoints: endpoints, policy: policy, gateway: gateway, versionInfo: version)
    }

    /// The guide's two ExternalServices (shared/seeds), decoded from their manifests.
    static func seedResources() throws -> [Resource] {
        try Manifest.load(SeedManifests.stream([SeedManifests.google, SeedManifests.googleWildcard]))
    }

    static func translate(_ input: TranslationInput) throws -> TranslationOutput {
        try Translator.translate(input)
    }
}

/// Parsed views of generated Envoy JSON, for assertions.
struct EnvoyView {
    let clusters: [[String: Any]]
    let routes: [[String: Any]]
    let listeners: [[String: Any]]
    let versions: [String]

    init(_ files: EnvoyFiles) throws {
        func parse(_ bytes: [UInt8]) throws -> (String, [[String: Any]]) {
            let object = try JSONSupport.object(bytes)
            return (object["version_info"] as? String ?? "", object["resources"] as? [[String: Any]] ?? [])
        }
        let (cv, c) = try parse(files.clusters)
        let (rv, r) = try parse(files.routes)
        let (lv, l) = try parse(files.listeners)
        clusters = c
        routes = r
        listeners = l
        versions = [cv, rv, lv]
    }

    /// Sorted-key JSON of a parsed object, for comparing.
    static func canonical(_ object: [String: Any]?) throws -> String {
        guard let object else { return "nil" }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    var clusterNames: [String] { clusters.compactMap { $0["name"] as? String } }

    func cluster(_ name: String) -> [String: Any]? { clusters.first { $0["name"] as? String == name } }

    var virtualHosts: [[String: Any]] { (routes.first?["virtual_hosts"] as? [[String: Any]]) ?? [] }

    func virtualHost(_ name: String) -> [String: Any]? { virtualHosts.first { $0["name"] as? String == name } }

    func listener(_ name: String) -> [String: Any]? { listeners.first { $0["name"] as? String == name } }

    /// The endpoint addresses (`host:port`) of a cluster's load assignment.
    func endpoints(of cluster: String) -> [String] {
        guard let assignment = self.cluster(cluster)?["load_assignment"] as? [String: Any],
            let groups = assignment["endpoints"] as? [[String: Any]]
        else { return [] }
        return groups.flatMap { group in
            ((group["lb_endpoints"] as? [[String: Any]]) ?? []).compactMap { lb in
                let endpoint = lb["endpoint"] as? [String: Any]
                let address = endpoint?["address"] as? [String: Any]
                if let socket = address?["socket_address"] as? [String: Any] {
                    return "\(socket["address"] as? String ?? ""):\(socket["port_value"] as? Int ?? 0)"
                }
                if let pipe = address?["pipe"] as? [String: Any] { return "unix:\(pipe["path"] as? String ?? "")" }
                return nil
            }
        }
    }
}
