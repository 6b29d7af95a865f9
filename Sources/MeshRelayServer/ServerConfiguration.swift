import Foundation
public import MeshRelayStore

/// Everything `meshrelay server` needs to start.
public struct ServerConfiguration: Sendable {
    /// Where the SQLite store (`meshrelay.db`) and the default admin token live.
    public var dataDirectory: String
    /// HTTP API bind host.
    public var apiHost: String
    /// HTTP API bind port; 0 picks a free port (see ``ManagementServer/onAPIListening``).
    public var apiPort: Int
    /// Relay listener (agents); used by the relay once it lands.
    public var relayHost: String
    public var relayPort: Int
    /// Directory holding `ca.crt`, `server.crt`, `server.key` for the relay.
    public var certificatesDirectory: String?
    /// The admin token file; `nil` means `DATA_DIR/admin.token`, created (0600) when missing.
    public var tokenFile: String?
    /// Largest accepted request body, in bytes.
    public var maximumRequestBodyBytes: Int
    /// How many revisions of change log the store keeps for delta resync.
    public var changeLogRetention: Int64
    /// How often the change log is compacted.
    public var compactionInterval: Duration
    /// Relay heartbeat interval (a silent agent is dropped after 3).
    public var heartbeatInterval: Duration
    /// How long a relay connection may take from TCP accept to a valid HELLO (TLS handshake
    /// included); a silent or slow client is dropped after it.
    public var handshakeTimeout: Duration
    /// On shutdown, how long agents get to leave after DRAIN before their connections are closed.
    public var drainTimeout: Duration
    /// The enrolment listener (HTTPS, bootstrap tokens, renewals); off while ``enrollPort`` is
    /// nil. Needs `ca.key` in the certificate folder.
    public var enrollHost: String = "127.0.0.1"
    public var enrollPort: Int?
    /// Relay connections allowed from one source address.
    public var maximumConnectionsPerSource: Int = 256
    /// An HTTP connection (API, enrolment) with no request for this long is closed.
    public var idleTimeout: Duration = .seconds(60)
    /// Serve the HTTP API over TLS with the server certificate of ``certificatesDirectory``.
    public var apiTLS: Bool = false
    /// Validity of the certificates enrolment issues to agents.
    public var agentCertificateDays: Int = 90
    /// The shared PostgreSQL store (several replicas); nil = the embedded SQLite file in
    /// ``dataDirectory``.
    public var postgres: PostgresLocation?
    /// The most one store call may take before it fails (PostgreSQL; the API answers 503).
    public var storeTimeout: Duration = .seconds(5)
    /// How often a replica reads the store's revision, whatever the notifications did.
    public var storePollInterval: Duration = .seconds(1)
    /// This replica's name in the store (cluster records' `server`); default host/pid.
    public var replicaID: String?
    /// How often a replica records that it is alive; its sessions are expired by another
    /// replica after 3 intervals of silence.
    public var replicaHeartbeatInterval: Duration = .seconds(5)

    public init(
        dataDirectory: String = "./meshrelay-data",
        apiHost: String = "127.0.0.1",
        apiPort: Int = 9091,
        relayHost: String = "127.0.0.1",
        relayPort: Int = 9900,
        certificatesDirectory: String? = nil,
        tokenFile: String? = nil,
        maximumRequestBodyBytes: Int = 64 << 20,
        changeLogRetention: Int64 = 100_000,
        compactionInterval: Duration = .seconds(60),
        heartbeatInterval: Duration = .seconds(10),
        handshakeTimeout: Duration = .seconds(10),
        drainTimeout: Duration = .seconds(5)
    ) {
        self.heartbeatInterval = heartbeatInterval
        self.handshakeTimeout = handshakeTimeout
        self.drainTimeout = drainTimeout
        self.dataDirectory = dataDirectory
        self.apiHost = apiHost
        self.apiPort = apiPort
        self.relayHost = relayHost
        self.relayPort = relayPort
        self.certificatesDirectory = certificatesDirectory
        self.tokenFile = tokenFile
        self.maximumRequestBodyBytes = maximumRequestBodyBytes
        self.changeLogRetention = changeLogRetention
        self.compactionInterval = compactionInterval
    }

    /// The replica name in effect.
    public var effectiveReplicaID: String {
        replicaID ?? "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The SQLite file inside the data directory.
    public var databasePath: String {
        URL(fileURLWithPath: dataDirectory).appendingPathComponent("meshrelay.db").path
    }

    /// The token file in effect.
    public var effectiveTokenFile: String {
        tokenFile ?? URL(fileURLWithPath: dataDirectory).appendingPathComponent("admin.token").path
    }
}
