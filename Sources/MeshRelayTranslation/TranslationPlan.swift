import MeshRelayModel

/// What a (host or address, port) pair is: a DNS name (maybe a `*.` wildcard) or an IP range.
enum Destination: Hashable, Comparable {
    case host(String)
    case address(CIDRRange)

    /// As it appears in names and messages: `www.google.com`, `10.0.0.1`, `10.0.0.0/8`.
    var text: String {
        switch self {
        case .host(let host): host
        case .address(let range): range.isSingleAddress ? range.address.description : range.description
        }
    }

    var isWildcard: Bool {
        if case .host(let host) = self { return host.hasPrefix("*.") }
        return false
    }

    /// An address range wider than one address (only matchable by original destination).
    var isRange: Bool {
        if case .address(let range) = self { return !range.isSingleAddress }
        return false
    }

    static func < (lhs: Destination, rhs: Destination) -> Bool {
        lhs.text < rhs.text
    }
}

/// How a claimed port is carried through the gateway.
enum Carriage: Hashable {
    /// Plain HTTP routed by `Host` (HTTP, HTTP2, GRPC, or any port with TLS origination).
    case http
    /// Opaque bytes: TLS/HTTPS passthrough (SNI) or TCP, through CONNECT or a TCP listener.
    case opaque
}

/// One resolved upstream endpoint.
struct UpstreamEndpoint: Hashable, Comparable {
    enum Address: Hashable {
        case ip(String)
        case dns(String)
        case unix(String)
    }

    var address: Address
    var port: Int
    var locality: Locality?

    var sortKey: String {
        let loc = locality.map { "\($0.region ?? "")/\($0.zone ?? "")/\($0.subZone ?? "")" } ?? ""
        switch address {
        case .ip(let ip): return "\(loc)|ip|\(ip)|\(port)"
        case .dns(let name): return "\(loc)|dns|\(name)|\(port)"
        case .unix(let path): return "\(loc)|unix|\(path)|\(port)"
        }
    }

    static func < (lhs: UpstreamEndpoint, rhs: UpstreamEndpoint) -> Bool { lhs.sortKey < rhs.sortKey }
}

/// Where a cluster sends its connections.
enum Upstream: Hashable {
    /// Fixed IPs (or unix sockets).
    case staticEndpoints([UpstreamEndpoint])
    /// Names resolved by DNS (IPs may be mixed in).
    case dnsEndpoints([UpstreamEndpoint])
    /// The name the client asked for (wildcard hosts without endpoints).
    case dynamicForwardProxy
    /// The connection's original destination (address ranges without endpoints).
    case originalDestination
}

/// A winning (destination, port) claim and everything Envoy needs for it.
struct Route: Hashable {
    var destination: Destination
    var port: ExternalServicePort
    var owner: ResourceKey
    var carriage: Carriage
    var upstream: Upstream
    /// TLS origination (`clientsideTls` SIMPLE or MUTUAL).
    var origination: ClientsideTLS?
    var subjectAltNames: [String]

    /// `outbound|PORT|HOST` (Istio's naming; the host is the wildcard or address as written).
    var clusterName: String { "outbound|\(port.number)|\(destination.text)" }

    var isHTTP2: Bool { port.protocol == .http2 || port.protocol == .grpc }

    /// Whether TLS clients reach it by SNI (HTTPS/TLS ports of hosts, without origination).
    var isSNIRoutable: Bool {
        guard case .host = destination, carriage == .opaque else { return false }
        return port.protocol == .https || port.protocol == .tls
    }
}

/// The translated state of one ExternalService.
struct ServicePlan {
    var service: SnapshotService
    var failure: String?
    var warnings: [String] = []
    var selected: [SnapshotEndpoint] = []
    /// Winning claims, in the service's host/port order.
    var routes: [Route] = []
    /// Destinations and port numbers with at least one winning claim (Istio output).
    var keptDestinations: Set<Destination> = []
    var keptPorts: Set<Int> = []
}

/// The whole translation before serialization.
struct TranslationPlan {
    var services: [ServicePlan]
    /// Every winning claim, sorted by cluster name.
    var routes: [Route]
    var endpointFailures: [ResourceKey: String]
}
