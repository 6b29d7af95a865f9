import ArgumentParser
import Foundation
import MeshRelayTranslation

/// The egress gateway's addresses, shared by `agent` and `envoy-bootstrap`.
struct EnvoyGatewayOptions: ParsableArguments {
    @Option(name: .customLong("egress-listen"), help: "The egress gateway's HTTP proxy listener (plain HTTP and CONNECT), HOST:PORT.")
    var egressListen = ListenAddress(host: "127.0.0.1", port: 15001)

    @Option(name: .customLong("egress-tls-listen"), help: "Optional SNI passthrough listener for TLS sent straight to the gateway, HOST:PORT.")
    var egressTLSListen: ListenAddress?

    @Option(name: .customLong("envoy-admin"), help: "Envoy's admin endpoint (keep it on loopback), IP:PORT.")
    var envoyAdmin = ListenAddress(host: "127.0.0.1", port: 15000)

    /// The gateway configuration for `directory` (made absolute).
    func gateway(configDirectory directory: String) -> GatewayConfiguration {
        GatewayConfiguration(
            configDirectory: URL(fileURLWithPath: directory).standardizedFileURL.path,
            httpListener: SocketAddress(host: egressListen.host, port: egressListen.port),
            tlsListener: egressTLSListen.map { SocketAddress(host: $0.host, port: $0.port) }
        )
    }

    var admin: SocketAddress { SocketAddress(host: envoyAdmin.host, port: envoyAdmin.port) }
}

struct EnvoyBootstrapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "envoy-bootstrap",
        abstract: "Print the bootstrap of the Envoy egress gateway that `meshrelay agent --envoy-config-dir DIR` feeds.",
        discussion: """
            Run Envoy with it (envoy -c bootstrap.json) when the agent does not supervise Envoy itself (no --envoy):
            Envoy reads cds.json and lds.json (and rds.json through the listener) from DIR, which the agent replaces
            by atomic rename. The agent writes the same bootstrap to DIR/bootstrap.json.
            """
    )

    @Option(name: .customLong("config-dir"), help: "The directory the agent writes cds.json, rds.json and lds.json to.")
    var configDir: String

    @Option(name: .customLong("cluster"), help: "The workload cluster (Envoy's node cluster).")
    var cluster = "default"

    @Option(name: .customLong("listen"), help: "Accepted for symmetry with the agent's --egress-listen (listeners come from lds.json).")
    var listen: ListenAddress?

    @Option(name: .customLong("admin"), help: "Envoy's admin endpoint, IP:PORT.")
    var admin = ListenAddress(host: "127.0.0.1", port: 15000)

    func run() throws {
        let bootstrap = EnvoyBootstrap(
            configDirectory: URL(fileURLWithPath: configDir).standardizedFileURL.path,
            admin: SocketAddress(host: admin.host, port: admin.port),
            nodeID: "meshrelay-egress-\(cluster)", nodeCluster: cluster
        )
        do {
            let json = try bootstrap.json()
            print(String(decoding: json, as: UTF8.self))
        } catch {
            throw CLIError.usage("meshrelay envoy-bootstrap: \(error.message)")
        }
    }
}
