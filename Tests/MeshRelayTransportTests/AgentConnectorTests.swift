import Foundation
import Logging
import MeshRelayAgent
import MeshRelayProtocol
import MeshRelayTesting
import NIOCore
import NIOPosix
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

@Suite("Relay agent connector over real mutual TLS", .serialized)
struct AgentConnectorTests {
    static let cluster = "cluster-1"

    static func resource(_ kind: String, _ name: String, version: Int64, spec: String) -> RelayResource {
        RelayResource(
            key: RelayResourceKey(kind: kind, namespace: "ns", name: name),
            version: version, generation: 1, labels: ["app": name], specJSON: Array(spec.utf8)
        )
    }

    static let api = resource("ExternalService", "api", version: 3, spec: #"{"hosts":["api.example.com"]}"#)
    static let team = resource("Workspace", "team", version: 4, spec: #"{}"#)

    static func makeAgent(
        certificates: DevCertificates,
        stateDirectory: String,
        servers: [RelayAddress],
        backoff: ReconnectBackoff = ReconnectBackoff(base: .milliseconds(50), cap: .milliseconds(200)),
        onApplied: (@Sendable (AgentState) -> Void)? = nil
    ) throws -> RelayAgent {
        var logger = Logger(label: "agent-test")
        logger.logLevel = .info
        return try RelayAgent(
            configuration: AgentConfiguration(
                cluster: cluster, servers: servers, certificatesDirectory: certificates.directory,
                stateDirectory: stateDirectory, agentVersion: "test-1", backoff: backoff
            ),
            logger: logger,
            onApplied: onApplied
        )
    }

    static func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-agent-\(UUID().uuidString)").path
    }

    /// Polls `condition` every 20 ms for at most `timeout`.
    static func eventually(
        _ what: String,
        timeout: Duration = .seconds(20),
        _ condition: () -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw TransportTestFailure("timed out after \(timeout) waiting for \(what)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A port on 127.0.0.1 where nothing listens (bound, then closed).
    static func closedPort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    @Test func connectsSynchronisesPersistsAndAReconnectWithNothingChangedTransfersNothing() async throws {
        let certificates = try DevCertificates(clusters: [Self.cluster])
        let stateDirectory = Self.temporaryDirectory()
        defer {
            certificates.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let view = ClusterView(revision: 7, resources: [Self.api, Self.team])
        let server = try await TestRelayServer.start(certificates: certificates.directory, view: view)
        let address = RelayAddress(host: "127.0.0.1", port: server.port)

        // First start: nothing held.
        let applied = Mutex<[AgentState]>([])
        let first = try Self.makeAgent(
            certificates: certificates, stateDirectory: stateDirectory, servers: [address],
            onApplied: { state in applied.withLock { $0.append(state) } }
        )
        #expect(first.currentState().resources.isEmpty)
        try await testGracefulShutdown { trigger in
            let running = Task { try await first.run() }
            do {
                try await Self.eventually("the ACK of the snapshot") { server.log.acks.count == 1 }
            } catch {
                running.cancel()
                _ = try? await running.value
                throw error
            }
            trigger.triggerGracefulShutdown()
            try await running.value
        }
        try await Self.eventually("the agent's GOODBYE") { !server.log.goodbyes.isEmpty }

        let log = server.log
        let hello = try #require(log.hellos.first)
        #expect(hello.cluster == Self.cluster)
        #expect(hello.agentVersion == "test-1")
        #expect(hello.outboundPolicy == "REGISTRY_ONLY")
        #expect(hello.held.isEmpty)
        #expect(hello.appliedRevision == 0)
        #expect(log.updates.count == 1)
        let update = try #require(log.updates.first).update
        #expect(update.isSnapshot)
        #expect(update.revision == 7)
        let ack = try #require(log.acks.first).ack
        #expect(ack.revision == 7)
        #expect(ack.results.map(\.state) == [ResourceResult.State.applied, .applied])
        #expect(Set(ack.results.map(\.key)) == Set([Self.api.key, Self.team.key]))
        #expect(log.goodbyes.first?.code == .normal)

        // Persisted before the ACK: the file and the published state hold both resources.
        let stored = try #require(try AgentStateFile(directory: stateDirectory).load(cluster: Self.cluster))
        #expect(stored.appliedRevision == 7)
        #expect(stored.resources == [Self.api.key: Self.api, Self.team.key: Self.team])
        #expect(first.currentState() == stored)
        #expect(applied.withLock { $0.last } == stored)

        // Second start, same state directory: the state is there before any connection, HELLO
        // lists it, and the server sends nothing.
        let second = try Self.makeAgent(certificates: certificates, stateDirectory: stateDirectory, servers: [address])
        #expect(second.currentState() == stored)
        let running = Task { try await second.run() }
        let synchronised = await Result {
            try await Self.eventually("the second session's synchronisation") {
                server.log.synchronized.contains { $0.connection == 1 }
            }
        }
        running.cancel()
        try await running.value
        try synchronised.get()

        let again = server.log
        #expect(again.hellos.count == 2)
        #expect(again.hellos.last?.held == [
            HeldResource(key: Self.api.key, version: 3), HeldResource(key: Self.team.key, version: 4),
        ].sorted { $0.key < $1.key })
        #expect(again.hellos.last?.appliedRevision == 7)
        #expect(again.updates.filter { $0.connection == 1 }.isEmpty, "nothing changed: no UPDATE")
        #expect(again.synchronized.last?.revision == 7)
        await server.stop()
    }

    @Test func anUndecodableSpecIsNackedAndTheOthersAreApplied() async throws {
        let certificates = try DevCertificates(clusters: [Self.cluster])
        let stateDirectory = Self.temporaryDirectory()
        defer {
            certificates.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let broken = Self.resource("ExternalService", "broken", version: 5, spec: #"{"hosts":42}"#)
        let unknown = Self.resource("Gadget", "thing", version: 6, spec: #"{}"#)
        let view = ClusterView(revision: 9, resources: [Self.api, broken, unknown])
        let server = try await TestRelayServer.start(certificates: certificates.directory, view: view)
        let agent = try Self.makeAgent(
            certificates: certificates, stateDirectory: stateDirectory,
            servers: [RelayAddress(host: "127.0.0.1", port: server.port)]
        )
        let running = Task { try await agent.run() }
        let acked = await Result { try await Self.eventually("the ACK") { server.log.acks.count == 1 } }
        running.cancel()
        try await running.value
        try acked.get()

        let ack = try #require(server.log.acks.first).ack
        var results: [RelayResourceKey: ResourceResult] = [:]
        for result in ack.results {
            results[result.key] = result
        }
        #expect(results[Self.api.key]?.state == .applied)
        #expect(results[broken.key]?.state == .failed)
        #expect(results[broken.key]?.message.contains("hosts") == true, "\(String(describing: results[broken.key]))")
        #expect(results[unknown.key]?.state == .failed)
        #expect(results[unknown.key]?.message.contains("unknown kind Gadget") == true)
        let stored = try #require(try AgentStateFile(directory: stateDirectory).load(cluster: Self.cluster))
        #expect(stored.resources == [Self.api.key: Self.api])
        #expect(stored.appliedRevision == 9)
        await server.stop()
    }

    @Test func anAddressThatRefusesConnectionsIsSkipped() async throws {
        let certificates = try DevCertificates(clusters: [Self.cluster])
        let stateDirectory = Self.temporaryDirectory()
        defer {
            certificates.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let server = try await TestRelayServer.start(
            certificates: certificates.directory, view: ClusterView(revision: 2, resources: [Self.api])
        )
        let closed = try await Self.closedPort()
        let agent = try Self.makeAgent(
            certificates: certificates, stateDirectory: stateDirectory,
            servers: [RelayAddress(host: "127.0.0.1", port: closed), RelayAddress(host: "127.0.0.1", port: server.port)]
        )
        let running = Task { try await agent.run() }
        let acked = await Result { try await Self.eventually("the ACK from the second address") { server.log.acks.count == 1 } }
        running.cancel()
        try await running.value
        try acked.get()
        #expect(agent.currentState().resources.keys.sorted() == [Self.api.key])
        await server.stop()
    }

    @Test func aDNSNameIsVerifiedAgainstTheServerCertificate() async throws {
        let certificates = try DevCertificates(clusters: [Self.cluster])
        let stateDirectory = Self.temporaryDirectory()
        defer {
            certificates.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let server = try await TestRelayServer.start(
            certificates: certificates.directory, view: ClusterView(revision: 2, resources: [Self.api])
        )
        // "localhost" is a DNS SAN of server.crt; the server listens on 127.0.0.1 only, so a
        // resolution to ::1 first fails over to 127.0.0.1 (or to the next attempt).
        let agent = try Self.makeAgent(
            certificates: certificates, stateDirectory: stateDirectory,
            servers: [RelayAddress(host: "localhost", port: server.port)]
        )
        let running = Task { try await agent.run() }
        let acked = await Result { try await Self.eventually("the ACK") { server.log.acks.count == 1 } }
        running.cancel()
        try await running.value
        try acked.get()
        await server.stop()
    }

    @Test func aDrainMovesTheAgentToTheNextAddressAtOnce() async throws {
        let certificates = try DevCertificates(clusters: [Self.cluster])
        let stateDirectory = Self.temporaryDirectory()
        defer {
            certificates.remove()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let view = ClusterView(revision: 4, resources: [Self.api, Self.team])
        let first = try await TestRelayServer.start(certificates: certificates.directory, view: view, serverID: "a")
        let second = try await TestRelayServer.start(certificates: certificates.directory, view: view, serverID: "b")
        // A backoff of up to an hour: only an immediate reconnect reaches the second server in time.
        let agent = try Self.makeAgent(
            certificates: certificates, stateDirectory: stateDirectory,
            servers: [RelayAddress(host: "127.0.0.1", port: first.port), RelayAddress(host: "127.0.0.1", port: second.port)],
            backoff: ReconnectBackoff(base: .seconds(3600), cap: .seconds(3600))
        )
        let running = Task { try await agent.run() }
        let outcome = await Result { () async throws -> Duration in
            try await Self.eventually("the ACK from the first server") { first.log.acks.count == 1 }
            let drained = ContinuousClock.now
            first.drainAll()
            try await Self.eventually("a session on the second server") { !second.log.connections.isEmpty }
            try await Self.eventually("the second server's synchronisation") { !second.log.synchronized.isEmpty }
            return drained.duration(to: second.log.connections[0])
        }
        running.cancel()
        try await running.value
        let elapsed = try outcome.get()

        #expect(elapsed < .seconds(10), "reconnected \(elapsed) after DRAIN")
        #expect(first.log.goodbyes.first?.code == .normal, "the agent answers DRAIN with GOODBYE normal")
        #expect(second.log.hellos.first?.held.count == 2)
        #expect(second.log.updates.isEmpty, "the second server has nothing new to send")
        await first.stop()
        await second.stop()
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
