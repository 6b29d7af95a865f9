/// `ExternalService.spec` (networking.gloo.solo.io/v2). Optional fields stay `nil` when the
/// manifest leaves them out, so a resource reads back as it was written.
public struct ExternalServiceSpec: Sendable, Hashable, Codable {
    /// DNS names, optionally with a leading `*.` wildcard. Exclusive with `addresses`.
    public var hosts: [String]?
    /// IPv4/IPv6 addresses or CIDR ranges. Exclusive with `hosts`.
    public var addresses: [String]?
    public var ports: [ExternalServicePort]?
    public var subjectAltNames: [String]?
    /// Labels picking ExternalEndpoints. An empty selector selects none.
    public var selector: [String: String]?

    public init(
        hosts: [String]? = nil,
        addresses: [String]? = nil,
        ports: [ExternalServicePort]? = nil,
        subjectAltNames: [String]? = nil,
        selector: [String: String]? = nil
    ) {
        self.hosts = hosts
        self.addresses = addresses
        self.ports = ports
        self.subjectAltNames = subjectAltNames
        self.selector = selector
    }
}

/// The protocols an ExternalService port may carry.
public enum PortProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    case http = "HTTP"
    case https = "HTTPS"
    case http2 = "HTTP2"
    case grpc = "GRPC"
    case tcp = "TCP"
    case tls = "TLS"
    case mongo = "MONGO"
}

/// One port of an ExternalService.
public struct ExternalServicePort: Sendable, Hashable, Codable {
    public var name: String?
    public var number: Int
    public var `protocol`: PortProtocol
    public var targetPort: TargetPort?
    public var clientsideTls: ClientsideTLS?
    /// Kept as written; meshrelay does not interpret virtual gateway routing.
    public var egressGatewayRoutes: JSONValue?

    public init(
        name: String? = nil,
        number: Int,
        protocol: PortProtocol,
        targetPort: TargetPort? = nil,
        clientsideTls: ClientsideTLS? = nil,
        egressGatewayRoutes: JSONValue? = nil
    ) {
        self.name = name
        self.number = number
        self.protocol = `protocol`
        self.targetPort = targetPort
        self.clientsideTls = clientsideTls
        self.egressGatewayRoutes = egressGatewayRoutes
    }
}

/// `targetPort`: a port number or the name of an ExternalEndpoint port.
public struct TargetPort: Sendable, Hashable, Codable {
    public var number: Int?
    public var name: String?

    public init(number: Int? = nil, name: String? = nil) {
        self.number = number
        self.name = name
    }
}

/// Client-side TLS origination settings of a port.
public struct ClientsideTLS: Sendable, Hashable, Codable {
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable {
        case simple = "SIMPLE"
        case disable = "DISABLE"
        case mutual = "MUTUAL"
        case istioMutual = "ISTIO_MUTUAL"
    }

    public var mode: Mode?
    public var sni: String?
    public var caCertificates: String?
    public var clientCertificate: String?
    public var privateKey: String?
    public var credentialName: String?
    public var insecureSkipVerify: Bool?

    public init(
        mode: Mode? = nil,
        sni: String? = nil,
        caCertificates: String? = nil,
        clientCertificate: String? = nil,
        privateKey: String? = nil,
        credentialName: String? = nil,
        insecureSkipVerify: Bool? = nil
    ) {
        self.mode = mode
        self.sni = sni
        self.caCertificates = caCertificates
        self.clientCertificate = clientCertificate
        self.privateKey = privateKey
        self.credentialName = credentialName
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// `ExternalEndpoint.spec` (networking.gloo.solo.io/v2).
public struct ExternalEndpointSpec: Sendable, Hashable, Codable {
    /// An IP address, a DNS name (no wildcard), or `unix:///path`.
    public var address: String
    public var ports: [EndpointPort]?
    public var locality: Locality?

    public init(address: String, ports: [EndpointPort]? = nil, locality: Locality? = nil) {
        self.address = address
        self.ports = ports
        self.locality = locality
    }
}

/// One port of an ExternalEndpoint; `name` is required when there are several.
public struct EndpointPort: Sendable, Hashable, Codable {
    public var name: String?
    public var number: Int

    public init(name: String? = nil, number: Int) {
        self.name = name
        self.number = number
    }
}

/// Where an ExternalEndpoint is.
public struct Locality: Sendable, Hashable, Codable {
    public var region: String?
    public var zone: String?
    public var subZone: String?

    public init(region: String? = nil, zone: String? = nil, subZone: String? = nil) {
        self.region = region
        self.zone = zone
        self.subZone = subZone
    }
}

/// `Workspace.spec` (admin.gloo.solo.io/v2).
public struct WorkspaceSpec: Sendable, Hashable, Codable {
    public var workloadClusters: [WorkspaceCluster]?

    public init(workloadClusters: [WorkspaceCluster]? = nil) {
        self.workloadClusters = workloadClusters
    }
}

/// One cluster entry of a Workspace: a cluster name (or `*`) and its namespaces.
public struct WorkspaceCluster: Sendable, Hashable, Codable {
    public var name: String
    public var namespaces: [WorkspaceNamespace]?

    public init(name: String, namespaces: [WorkspaceNamespace]? = nil) {
        self.name = name
        self.namespaces = namespaces
    }
}

/// A namespace (or `*`) selected by a Workspace.
public struct WorkspaceNamespace: Sendable, Hashable, Codable {
    public var name: String

    public init(name: String) {
        self.name = name
    }
}

/// `KubernetesCluster.spec` (admin.gloo.solo.io/v2): registers a workload cluster by its
/// `metadata.name`.
public struct KubernetesClusterSpec: Sendable, Hashable, Codable {
    public var clusterDomain: String?

    public init(clusterDomain: String? = nil) {
        self.clusterDomain = clusterDomain
    }
}
