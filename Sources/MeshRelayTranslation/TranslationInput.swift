public import MeshRelayModel

/// What a workload cluster's egress does with a host no ExternalService registers.
public enum OutboundPolicy: String, Sendable, Hashable, CaseIterable {
    /// Unregistered hosts are refused: `502` for HTTP (and CONNECT), a reset for TLS and TCP.
    case registryOnly = "REGISTRY_ONLY"
    /// Unregistered hosts are forwarded (dynamic forward proxy, original destination).
    case allowAny = "ALLOW_ANY"
}

/// A TCP socket address the gateway listens on or an admin endpoint binds.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// An IP address (`127.0.0.1`, `0.0.0.0`, `::`).
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (`[v6]:port` for IPv6).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Where the egress gateway listens and where its dynamic config lives.
///
/// The gateway is an explicit proxy (`curl -x`, `HTTP_PROXY`/`HTTPS_PROXY`) on ``httpListener``:
/// plain HTTP is routed by `Host` (with port), HTTPS/TLS/TCP go through `CONNECT host:port`.
/// ``tlsListener`` (optional) takes TLS connections sent straight to the gateway and routes them
/// by SNI. ``transparentListener`` (optional) takes connections redirected to the gateway with
/// their original destination kept (iptables `REDIRECT`/`TPROXY`): TLS by SNI and destination
/// port, TCP `addresses` (IPs and CIDR ranges) by destination IP and port.
public struct GatewayConfiguration: Sendable, Hashable {
    /// The directory holding `cds.json`, `rds.json` and `lds.json`; absolute (Envoy resolves
    /// `path_config_source` paths as given). The LDS file points Envoy at `rds.json` here.
    public var configDirectory: String
    public var httpListener: SocketAddress
    public var tlsListener: SocketAddress?
    public var transparentListener: SocketAddress?
    /// Trusted CAs for TLS origination (`clientsideTls`) when a port names no `caCertificates`.
    public var systemCABundle: String
    /// Upstream connect timeout of every generated cluster, in milliseconds.
    public var connectTimeoutMilliseconds: Int

    /// - Parameters:
    ///   - configDirectory: Absolute directory of the dynamic config files.
    ///   - httpListener: The explicit proxy listener (HTTP and CONNECT).
    ///   - tlsListener: Optional SNI passthrough listener.
    ///   - transparentListener: Optional original-destination listener (TLS by SNI, TCP by IP).
    ///   - systemCABundle: Default trusted CA file for TLS origination.
    ///   - connectTimeoutMilliseconds: Upstream connect timeout.
    public init(
        configDirectory: String,
        httpListener: SocketAddress,
        tlsListener: SocketAddress? = nil,
        transparentListener: SocketAddress? = nil,
        systemCABundle: String = "/etc/ssl/certs/ca-certificates.crt",
        connectTimeoutMilliseconds: Int = 5000
    ) {
        self.configDirectory = configDirectory
        self.httpListener = httpListener
        self.tlsListener = tlsListener
        self.transparentListener = transparentListener
        self.systemCABundle = systemCABundle
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
    }

    /// `DIR/NAME`, without doubling a trailing slash.
    func path(_ name: String) -> String {
        configDirectory.hasSuffix("/") ? configDirectory + name : configDirectory + "/" + name
    }
}

/// One ExternalService of a cluster's snapshot.
public struct SnapshotService: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var labels: [String: String]
    /// RFC 3339 UTC creation time as the server writes it (`2026-05-01T10:00:00Z`), used to pick
    /// the oldest of two services claiming the same host and port. `nil` when unknown: such a
    /// service counts as younger than any dated one; ties fall back to namespace, then name.
    public var creationTimestamp: String?
    public var spec: ExternalServiceSpec

    public init(
        namespace: String, name: String, labels: [String: String] = [:], creationTimestamp: String? = nil,
        spec: ExternalServiceSpec
    ) {
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.creationTimestamp = creationTimestamp
        self.spec = spec
    }

    public var key: ResourceKey { ResourceKey(kind: .externalService, namespace: namespace, name: name) }
}

/// One ExternalEndpoint of a cluster's snapshot.
public struct SnapshotEndpoint: Sendable, Hashable {
    public var namespace: String
    public var name: String
    /// Matched against the services' `selector`.
    public var labels: [String: String]
    public var spec: ExternalEndpointSpec

    public init(namespace: String, name: String, labels: [String: String] = [:], spec: ExternalEndpointSpec) {
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.spec = spec
    }

    public var key: ResourceKey { ResourceKey(kind: .externalEndpoint, namespace: namespace, name: name) }
}

/// Everything the translator reads: a cluster's resources, its outbound policy, the gateway's
/// listeners and the version to stamp on the output.
public struct TranslationInput: Sendable, Hashable {
    public var services: [SnapshotService]
    public var endpoints: [SnapshotEndpoint]
    /// Resources that could not be decoded (``init(resources:policy:gateway:versionInfo:)``):
    /// each becomes a FAILED outcome; the rest is translated.
    public var undecodable: [ResourceKey: String]
    public var policy: OutboundPolicy
    public var gateway: GatewayConfiguration
    /// Written as `version_info` in every Envoy file (shown in `/config_dump`), e.g. the snapshot
    /// revision. Change it whenever the input changes (the policy included).
    public var versionInfo: String
    /// What to produce: Envoy files, Istio manifests, or both (the default). Outcomes are always
    /// computed; an output not asked for is empty.
    public var outputs: TranslationOutputs = .all

    public init(
        services: [SnapshotService],
        endpoints: [SnapshotEndpoint],
        policy: OutboundPolicy,
        gateway: GatewayConfiguration,
        versionInfo: String
    ) {
        self.services = services
        self.endpoints = endpoints
        self.undecodable = [:]
        self.policy = policy
        self.gateway = gateway
        self.versionInfo = versionInfo
    }
}

/// The outputs of a translation (a data plane asks only for its own).
public struct TranslationOutputs: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// `cds.json`, `rds.json`, `lds.json`.
    public static let envoy = TranslationOutputs(rawValue: 1)
    /// ServiceEntries, DestinationRules and `kustomization.yaml`.
    public static let istio = TranslationOutputs(rawValue: 2)
    public static let all: TranslationOutputs = [.envoy, .istio]
}

/// A resource as the agent holds it (the fields of `RelayResource` plus the creation time when
/// known): kind name, namespace, name, labels and the spec's canonical JSON.
public struct RawSnapshotResource: Sendable, Hashable {
    /// `ExternalService` or `ExternalEndpoint`; other kinds are ignored.
    public var kind: String
    public var namespace: String
    public var name: String
    public var labels: [String: String]
    public var creationTimestamp: String?
    public var specJSON: [UInt8]

    public init(
        kind: String, namespace: String, name: String, labels: [String: String] = [:],
        creationTimestamp: String? = nil, specJSON: [UInt8]
    ) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.labels = labels
        self.creationTimestamp = creationTimestamp
        self.specJSON = specJSON
    }
}
