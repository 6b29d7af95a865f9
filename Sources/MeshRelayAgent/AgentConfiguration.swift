public import MeshRelayProtocol
import NIOCore

/// One address of a relay server.
public struct RelayAddress: Sendable, Hashable, CustomStringConvertible {
    /// A DNS name or an IP literal (IPv4, or IPv6 without brackets).
    public var host: String
    /// The TCP port.
    public var port: Int

    /// - Parameters:
    ///   - host: A DNS name or an IP literal.
    ///   - port: The TCP port.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `true` when ``host`` is an IPv4 or IPv6 literal rather than a DNS name.
    public var isIPLiteral: Bool {
        (try? SocketAddress(ipAddress: self.host, port: 0)) != nil
    }

    /// The name the agent sends in SNI and checks against the server certificate's DNS names:
    /// the host when it is a DNS name, `nil` for an IP literal.
    ///
    /// With `nil`, swift-nio-ssl (full verification) still checks the server certificate's name:
    /// it matches the certificate's IP subject alternative names against the address the socket
    /// is connected to, and never accepts a DNS name or common name for it. SNI cannot carry an IP
    /// literal (RFC 6066, section 3), which is why the literal is not passed as a hostname.
    public var tlsServerName: String? {
        self.isIPLiteral ? nil : self.host
    }

    /// `host:port` (`[host]:port` for IPv6).
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// The parameters of a ``RelayAgent``.
public struct AgentConfiguration: Sendable {
    /// The cluster this agent serves; its certificate is `NAME.crt`/`NAME.key` in
    /// ``certificatesDirectory``.
    public var cluster: String
    /// The relay server addresses, tried in order (the next one after every ended connection).
    public var servers: [RelayAddress]
    /// The certificate folder (`ca.crt`, `NAME.crt`, `NAME.key`; see `RelayTLS`).
    public var certificatesDirectory: String
    /// Where the agent keeps `state.json` (``AgentStateFile``).
    public var stateDirectory: String
    /// The agent's software version (sent in HELLO).
    public var agentVersion: String
    /// `REGISTRY_ONLY` or `ALLOW_ANY` (sent in HELLO).
    public var outboundPolicy: String
    /// How long the agent waits for WELCOME after the TLS handshake (and for the TCP connection
    /// and the TLS handshake themselves).
    public var helloTimeout: Duration
    /// The reconnect backoff (base and cap; docs/protocol.md, "Reconnecting").
    public var backoff: ReconnectBackoff
    /// The largest frame payload the agent accepts and sends (the server's limit should match).
    public var maximumFramePayloadBytes: Int

    /// - Parameters:
    ///   - cluster: The cluster this agent serves.
    ///   - servers: The relay server addresses, in the order they are tried.
    ///   - certificatesDirectory: The certificate folder.
    ///   - stateDirectory: The durable state folder.
    ///   - agentVersion: The agent's software version.
    ///   - outboundPolicy: `REGISTRY_ONLY` (default) or `ALLOW_ANY`.
    ///   - helloTimeout: How long to wait for a connection, its TLS handshake and WELCOME (10 s).
    ///   - backoff: The reconnect backoff (200 ms base, 30 s cap by default).
    ///   - maximumFramePayloadBytes: The frame payload limit (16 MiB by default).
    public init(
        cluster: String,
        servers: [RelayAddress],
        certificatesDirectory: String,
        stateDirectory: String,
        agentVersion: String,
        outboundPolicy: String = "REGISTRY_ONLY",
        helloTimeout: Duration = .seconds(10),
        backoff: ReconnectBackoff = ReconnectBackoff(),
        maximumFramePayloadBytes: Int = RelayFrameDecoder.defaultMaximumPayloadBytes
    ) {
        self.cluster = cluster
        self.servers = servers
        self.certificatesDirectory = certificatesDirectory
        self.stateDirectory = stateDirectory
        self.agentVersion = agentVersion
        self.outboundPolicy = outboundPolicy
        self.helloTimeout = helloTimeout
        self.backoff = backoff
        self.maximumFramePayloadBytes = maximumFramePayloadBytes
    }

    /// The session state machine's parameters.
    var sessionConfiguration: AgentSessionStateMachine.Configuration {
        AgentSessionStateMachine.Configuration(
            cluster: self.cluster,
            agentVersion: self.agentVersion,
            outboundPolicy: self.outboundPolicy,
            helloTimeout: self.helloTimeout
        )
    }
}
