import ArgumentParser
import Foundation
import Logging
import MeshRelayServer
import MeshRelayStore

/// `HOST:PORT` or `[IPv6]:PORT`.
struct ListenAddress: ExpressibleByArgument, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(argument: String) {
        let hostPart: Substring
        let portPart: Substring
        if argument.hasPrefix("[") {
            guard let close = argument.firstIndex(of: "]"), argument[argument.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = argument[argument.index(after: argument.startIndex)..<close]
            portPart = argument[argument.index(close, offsetBy: 2)...]
        } else {
            guard let colon = argument.lastIndex(of: ":") else { return nil }
            hostPart = argument[..<colon]
            portPart = argument[argument.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    var defaultValueDescription: String { description }
}

/// Log output formats.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run the management server (HTTP API on the embedded SQLite store or a shared PostgreSQL; agents' relay).",
        discussion: "Stops gracefully on SIGTERM or SIGINT. Creates DATA_DIR/admin.token (0600) on first start."
    )

    @Option(name: .customLong("data-dir"), help: "Where meshrelay.db and admin.token live.")
    var dataDir = "./meshrelay-data"

    @Option(name: .customLong("api-listen"), help: "HTTP API address (HOST:PORT; port 0 picks a free one).")
    var apiListen = ListenAddress(host: "127.0.0.1", port: 9091)

    @Option(name: .customLong("relay-listen"), help: "Relay (agents) address, HOST:PORT.")
    var relayListen = ListenAddress(host: "127.0.0.1", port: 9900)

    @Option(
        name: .customLong("certs-dir"),
        help: "Directory with ca.crt, server.crt, server.key: enables the relay (mutual TLS). Without it agents cannot connect."
    )
    var certsDir: String?

    @Option(
        name: .customLong("enroll-listen"),
        help: "Enrol and renew agents (HTTPS, bootstrap tokens) on HOST:PORT, e.g. 0.0.0.0:9901; needs ca.key in --certs-dir. Off without it.")
    var enrollListen: ListenAddress?

    @Option(name: .customLong("max-connections-per-source"), help: "Relay connections allowed from one source address (more are closed at once).")
    var maxConnectionsPerSource = 256

    @Option(name: .customLong("idle-timeout"), help: "Seconds an API or enrolment connection may stay without a request before it is closed.")
    var idleTimeout: Double = 60

    @Flag(name: .customLong("api-tls"), help: "Serve the HTTP API over TLS with --certs-dir's server certificate (clients: --api https://… --ca-file ca.crt).")
    var apiTLS = false

    @Option(name: .customLong("agent-cert-days"), help: "Validity in days of the certificates enrolment issues.")
    var agentCertDays = 90

    @Option(name: .customLong("heartbeat-interval"), help: "Relay heartbeat interval in seconds; a peer silent for 3 intervals is dropped.")
    var heartbeatInterval: Double = 10

    @Option(name: .customLong("handshake-timeout"), help: "Seconds a relay connection has from accept to a valid HELLO, TLS handshake included.")
    var handshakeTimeout: Double = 10

    @Option(name: .customLong("drain-timeout"), help: "Seconds agents get to leave after DRAIN on shutdown before their connections are closed.")
    var drainTimeout: Double = 5

    @Option(name: .customLong("token-file"), help: "Admin token file (default DATA_DIR/admin.token, generated when missing).")
    var tokenFile: String?

    @Option(name: .customLong("max-body-bytes"), help: "Largest accepted API request body.")
    var maxBodyBytes = 64 << 20

    @Option(name: .customLong("changelog-retention"), help: "Revisions of change log kept for agents' delta resync.")
    var changelogRetention: Int64 = 100_000

    @Option(
        name: .customLong("store"),
        help: "sqlite (the file DATA_DIR/meshrelay.db, one server) or postgres://USER@HOST:PORT/DATABASE[?sslmode=disable|prefer|require] (several replicas share it). Default: $MESHRELAY_STORE, else sqlite."
    )
    var store: String?

    @Option(name: .customLong("store-password-file"), help: "A file holding the PostgreSQL password (default: the URL's, else $PGPASSWORD).")
    var storePasswordFile: String?

    @Option(name: .customLong("store-timeout"), help: "Seconds one PostgreSQL call may take before it fails (the API answers 503, /readyz fails).")
    var storeTimeout: Double = 5

    @Option(name: .customLong("store-poll-interval"), help: "Seconds between reads of the shared store's revision (a missed notification waits at most this long).")
    var storePollInterval: Double = 1

    @Option(name: .customLong("replica-id"), help: "This server's name among the replicas of a shared store (default: HOSTNAME/PID).")
    var replicaID: String?

    @Option(name: .customLong("replica-heartbeat-interval"), help: "Seconds between a replica's heartbeats; another replica expires its sessions after 3 missed ones.")
    var replicaHeartbeatInterval: Double = 5

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(name: .customLong("log-format"), help: "text or json (one JSON object per line).")
    var logFormat: LogFormat = .text

    @Option(name: .customLong("config"), help: "A YAML file of settings: these option names without dashes (docs/operations.md). The command line wins.")
    var config: String?

    @Flag(name: .customLong("dry-run"), help: "Check the settings (with --config: the file too), print the effective ones, start nothing.")
    var dryRun = false

    /// Every setting with its value, as a `--config` file writes it (`--dry-run` prints this).
    var effectiveSettings: [(String, String)] {
        [
            ("data-dir", dataDir), ("api-listen", "\(apiListen)"), ("relay-listen", "\(relayListen)"), ("certs-dir", certsDir ?? ""),
            ("enroll-listen", enrollListen.map { "\($0)" } ?? ""), ("max-connections-per-source", "\(maxConnectionsPerSource)"),
            ("idle-timeout", "\(idleTimeout)"), ("api-tls", "\(apiTLS)"), ("agent-cert-days", "\(agentCertDays)"),
            ("heartbeat-interval", "\(heartbeatInterval)"), ("handshake-timeout", "\(handshakeTimeout)"), ("drain-timeout", "\(drainTimeout)"),
            ("token-file", tokenFile ?? ""), ("max-body-bytes", "\(maxBodyBytes)"), ("changelog-retention", "\(changelogRetention)"),
            ("store", effectiveStore), ("store-password-file", storePasswordFile ?? ""), ("store-timeout", "\(storeTimeout)"),
            ("store-poll-interval", "\(storePollInterval)"), ("replica-id", replicaID ?? ""),
            ("replica-heartbeat-interval", "\(replicaHeartbeatInterval)"),
            ("log-level", logLevel), ("log-format", logFormat.rawValue),
        ]
    }

    /// `--store`, else `$MESHRELAY_STORE`, else `sqlite`.
    var effectiveStore: String {
        if let store, !store.isEmpty { return store }
        if let environment = ProcessInfo.processInfo.environment["MESHRELAY_STORE"], !environment.isEmpty { return environment }
        return "sqlite"
    }

    /// The PostgreSQL location of the effective store (password from the URL, the file, or
    /// `$PGPASSWORD`), or nil for SQLite.
    func postgresLocation(readingPassword: Bool) throws -> PostgresLocation? {
        let value = effectiveStore
        if value == "sqlite" { return nil }
        guard PostgresLocation.isPostgresURL(value) else {
            throw ValidationError("--store \(value) is neither sqlite nor a postgres:// URL")
        }
        var location: PostgresLocation
        do {
            location = try PostgresLocation(url: value)
        } catch {
            throw ValidationError(error.message)
        }
        guard readingPassword, location.password == nil else { return location }
        if let storePasswordFile {
            do {
                location.password = try String(contentsOfFile: storePasswordFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw ValidationError("--store-password-file \(storePasswordFile) cannot be read: \(error.localizedDescription)")
            }
        } else if let environment = ProcessInfo.processInfo.environment["PGPASSWORD"], !environment.isEmpty {
            location.password = environment
        }
        return location
    }

    func validate() throws {
        if Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes must be at least 1024") }
        if changelogRetention < 1 { throw ValidationError("--changelog-retention must be at least 1") }
        if !(0.05...3600).contains(heartbeatInterval) { throw ValidationError("--heartbeat-interval must be between 0.05 and 3600 seconds") }
        if !(0.05...3600).contains(handshakeTimeout) { throw ValidationError("--handshake-timeout must be between 0.05 and 3600 seconds") }
        if !(0...3600).contains(drainTimeout) { throw ValidationError("--drain-timeout must be between 0 and 3600 seconds") }
        if !(1...3650).contains(agentCertDays) { throw ValidationError("--agent-cert-days must be between 1 and 3650") }
        if !(1...100_000).contains(maxConnectionsPerSource) { throw ValidationError("--max-connections-per-source must be between 1 and 100000") }
        if !(0.1...86_400).contains(idleTimeout) { throw ValidationError("--idle-timeout must be between 0.1 and 86400 seconds") }
        _ = try postgresLocation(readingPassword: false)
        if !(0.1...600).contains(storeTimeout) { throw ValidationError("--store-timeout must be between 0.1 and 600 seconds") }
        if !(0.05...3600).contains(storePollInterval) { throw ValidationError("--store-poll-interval must be between 0.05 and 3600 seconds") }
        if !(0.1...3600).contains(replicaHeartbeatInterval) { throw ValidationError("--replica-heartbeat-interval must be between 0.1 and 3600 seconds") }
        if let replicaID, replicaID.isEmpty || replicaID.count > 253 { throw ValidationError("--replica-id must have 1 to 253 characters") }
        if apiTLS && certsDir == nil { throw ValidationError("--api-tls needs --certs-dir DIR (server.crt, server.key)") }
        if enrollListen != nil {
            guard let certsDir else { throw ValidationError("--enroll-listen needs --certs-dir DIR with ca.crt, ca.key, server.crt, server.key") }
            // A dry run checks settings, not the files they name (they may live elsewhere, e.g. a pod).
            if !dryRun && !FileManager.default.fileExists(atPath: certsDir + "/ca.key") {
                throw ValidationError("--enroll-listen signs agent certificates: \(certsDir)/ca.key is missing (meshrelay certs init makes it)")
            }
        }
    }

    func run() async throws {
        if dryRun {
            print(DryRun.report(verb: "server", settings: effectiveSettings))
            return
        }
        bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info, format: logFormat)
        let logger = Logger(label: "meshrelay.server")
        var configuration = ServerConfiguration(
            dataDirectory: dataDir, apiHost: apiListen.host, apiPort: apiListen.port,
            relayHost: relayListen.host, relayPort: relayListen.port, certificatesDirectory: certsDir,
            tokenFile: tokenFile, maximumRequestBodyBytes: maxBodyBytes, changeLogRetention: changelogRetention,
            heartbeatInterval: .milliseconds(Int64(heartbeatInterval * 1000)),
            handshakeTimeout: .milliseconds(Int64(handshakeTimeout * 1000)),
            drainTimeout: .milliseconds(Int64(drainTimeout * 1000))
        )
        if let enrollListen {
            configuration.enrollHost = enrollListen.host
            configuration.enrollPort = enrollListen.port
        }
        configuration.agentCertificateDays = agentCertDays
        configuration.apiTLS = apiTLS
        configuration.maximumConnectionsPerSource = maxConnectionsPerSource
        configuration.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        configuration.postgres = try postgresLocation(readingPassword: true)
        configuration.storeTimeout = .milliseconds(Int64(storeTimeout * 1000))
        configuration.storePollInterval = .milliseconds(Int64(storePollInterval * 1000))
        configuration.replicaID = replicaID
        configuration.replicaHeartbeatInterval = .milliseconds(Int64(replicaHeartbeatInterval * 1000))
        if configuration.postgres != nil && tokenFile == nil {
            logger.notice("with a shared store every replica needs the same admin token: pass --token-file (e.g. a mounted Secret); this replica uses \(configuration.effectiveTokenFile)")
        }
        do {
            try await ManagementServer(configuration: configuration, logger: logger).run()
        } catch let error as ServerError {
            throw CLIError.refused("meshrelay server: \(error.message)")
        } catch let error as StoreError {
            throw CLIError.refused("meshrelay server: \(error.message)")
        }
    }
}
