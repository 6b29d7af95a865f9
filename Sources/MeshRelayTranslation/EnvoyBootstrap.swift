import MeshRelayModel

/// Envoy's bootstrap for the egress gateway: the admin endpoint, the node, and LDS/CDS read from
/// files in the config directory (`lds.json`, `cds.json`; the listeners read `rds.json`).
public struct EnvoyBootstrap: Sendable, Hashable {
    /// Absolute directory of the dynamic config files (the same as
    /// ``GatewayConfiguration/configDirectory``).
    public var configDirectory: String
    /// Envoy's admin endpoint (`/ready`, `/config_dump`, `/stats`); keep it on loopback.
    public var admin: SocketAddress
    /// `node.id`, e.g. `meshrelay-egress-CLUSTER`.
    public var nodeID: String
    /// `node.cluster`, e.g. the workload cluster's name.
    public var nodeCluster: String

    /// - Parameters:
    ///   - configDirectory: Absolute directory of `cds.json`, `rds.json`, `lds.json`.
    ///   - admin: The admin endpoint address.
    ///   - nodeID: Envoy's node id.
    ///   - nodeCluster: Envoy's node cluster.
    public init(configDirectory: String, admin: SocketAddress, nodeID: String, nodeCluster: String) {
        self.configDirectory = configDirectory
        self.admin = admin
        self.nodeID = nodeID
        self.nodeCluster = nodeCluster
    }

    /// The bootstrap as indented JSON (pass it to `envoy -c FILE.json`).
    /// - Throws: ``TranslationError`` (`invalidBootstrap`) for a relative directory, an admin
    ///   host that is not an IP address, a port out of range or an empty node id or cluster.
    public func json() throws(TranslationError) -> [UInt8] {
        guard configDirectory.hasPrefix("/") else {
            throw TranslationError(
                .invalidBootstrap, "the config directory \"\(configDirectory)\" is not absolute; pass an absolute directory")
        }
        guard IPAddress(admin.host) != nil, (1...65535).contains(admin.port) else {
            throw TranslationError(
                .invalidBootstrap, "the admin address \(admin) is not an IP address and a port 1-65535; use for example 127.0.0.1:19000")
        }
        guard !nodeID.isEmpty, !nodeCluster.isEmpty else {
            throw TranslationError(.invalidBootstrap, "the node id and node cluster must not be empty")
        }
        let directory = configDirectory.hasSuffix("/") ? String(configDirectory.dropLast()) : configDirectory
        func source(_ file: String) -> ConfigValue {
            .object([
                ("resource_api_version", .string("V3")),
                ("path_config_source", .object([("path", .string(directory + "/" + file))])),
            ])
        }
        let bootstrap: ConfigValue = .object([
            ("node", .object([("id", .string(nodeID)), ("cluster", .string(nodeCluster))])),
            ("admin", .object([("address", EnvoyConfigBuilder.socketAddress(admin))])),
            (
                "dynamic_resources",
                .object([
                    ("lds_config", source(EnvoyFiles.listenersFileName)),
                    ("cds_config", source(EnvoyFiles.clustersFileName)),
                ])
            ),
        ])
        return bootstrap.jsonBytes()
    }
}
