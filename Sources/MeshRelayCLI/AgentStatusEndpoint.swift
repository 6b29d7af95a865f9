import Foundation
import Hummingbird
import Logging
import MeshRelayAgent
import NIOCore

/// `meshrelay agent --metrics-listen HOST:PORT`: `/metrics` (Prometheus text), `/healthz` (the
/// process runs) and `/readyz` (the agent holds a state — restored or received — and the data
/// plane is healthy: the egress gateway can carry traffic, whether or not the relay server is
/// reachable now — static stability; a fresh pod is not ready before its first synchronisation, so
/// a rolling update does not send traffic to a gateway that would refuse everything).
enum AgentStatusEndpoint {
    static func application(
        agent: RelayAgent, metricsText: @escaping @Sendable () -> String, host: String, port: Int, logger: Logger
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let connection = agent.isConnected ? "relay connected" : "relay not connected"
            guard agent.hasApplied else {
                return text("not ready: nothing applied yet (waiting for the first synchronisation with a relay server); \(connection)\n", status: .serviceUnavailable)
            }
            guard let health = agent.dataPlaneHealth else {
                return text("not ready: the data plane was not read yet; \(connection)\n", status: .serviceUnavailable)
            }
            let line = "data plane \(health.state)" + (health.message.isEmpty ? "" : " (\(health.message))") + "; \(connection)\n"
            return health.isHealthy ? text("ready: " + line, status: .ok) : text("not ready: " + line, status: .serviceUnavailable)
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metricsText()))
            )
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "meshrelay-agent"),
            onServerRunning: { channel in
                logger.info("agent metrics listening", metadata: ["metrics.address": "\(host):\(channel.localAddress?.port ?? port)"])
            },
            logger: logger
        )
    }

    private static func text(_ body: String, status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
