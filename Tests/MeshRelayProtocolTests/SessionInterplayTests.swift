import MeshRelayProtocol
import Testing

/// The two state machines wired to each other in memory: every message one sends is delivered to
/// the other, the agent "applies" with a rule of the test, and the server looks up a fixed view.
@Suite("Session interplay")
struct SessionInterplayTests {
    typealias F = SessionFixtures

    /// A server and an agent session joined by an in-memory pipe.
    struct Pair {
        var server: ServerSessionStateMachine
        var agent: AgentSessionStateMachine
        var view: ClusterView
        /// Resources the agent's data plane rejects.
        var rejects: Set<String> = []
        var now = F.origin
        var updatesSent: [Update] = []
        var recordedAcks: [Ack] = []
        var closed = false

        init(agent: AgentSessionStateMachine, view: ClusterView) {
            self.server = ServerSessionStateMachine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
            self.agent = agent
            self.view = view
        }

        mutating func connect() {
            self.server = ServerSessionStateMachine(configuration: F.serverConfiguration, identity: F.cluster, now: self.now)
            self.closed = false
            self.runAgent(self.agent.connected(now: self.now))
        }

        mutating func runAgent(_ actions: [AgentSessionStateMachine.Action]) {
            for action in actions {
                switch action {
                case .send(let message):
                    self.runServer(self.server.messageReceived(message, now: self.now))
                case .apply(let update):
                    let results = update.upserts.map { resource in
                        ResourceResult(
                            key: resource.key,
                            version: resource.version,
                            state: self.rejects.contains(resource.key.name) ? .failed : .applied
                        )
                    }
                    self.runAgent(self.agent.applyCompleted(revision: update.revision, results: results, now: self.now))
                case .close:
                    self.closeBoth()
                case .established, .reconnect:
                    break
                }
            }
        }

        mutating func runServer(_ actions: [ServerSessionStateMachine.Action]) {
            for action in actions {
                switch action {
                case .lookUpCluster:
                    self.runServer(self.server.clusterLookedUp(.registered(self.view), now: self.now))
                case .send(let message):
                    if case .update(let update) = message {
                        self.updatesSent.append(update)
                    }
                    self.runAgent(self.agent.messageReceived(message, now: self.now))
                case .sendSnapshot(let view):
                    self.updatesSent.append(view.snapshotUpdate)
                    self.runAgent(self.agent.messageReceived(.update(view.snapshotUpdate), now: self.now))
                case .recordAck(let revision, let results, _):
                    self.recordedAcks.append(Ack(revision: revision, results: results))
                case .close:
                    self.closeBoth()
                case .established, .recordHeld, .synchronized, .disconnected, .recordDataPlane:
                    break
                }
            }
        }

        mutating func publish(_ view: ClusterView) {
            self.view = view
            self.runServer(self.server.viewChanged(view))
        }

        mutating func closeBoth() {
            guard !self.closed else {
                return
            }
            self.closed = true
            _ = self.server.channelClosed()
            _ = self.agent.channelClosed()
        }
    }

    @Test("first sync, NACK, delta, reconnect with nothing changed, reconnect after a change")
    func lifecycle() {
        var pair = Pair(
            agent: AgentSessionStateMachine(configuration: F.agentConfiguration, held: [], appliedRevision: 0),
            view: F.view(10, F.resource("a", 3), F.resource("b", 10), F.resource("c", 7))
        )
        pair.rejects = ["b"]
        pair.connect()
        #expect(pair.updatesSent.map(\.isSnapshot) == [true])
        #expect(pair.updatesSent.first?.upserts.count == 3)
        #expect(pair.agent.held == F.versions(["a": 3, "c": 7]))
        #expect(pair.recordedAcks.first?.results.filter { $0.state == .failed }.map(\.key.name) == ["b"])

        // A change elsewhere: only the new resource travels, the rejected b@10 is not resent.
        pair.publish(F.view(11, F.resource("a", 3), F.resource("b", 10), F.resource("c", 7), F.resource("d", 11)))
        #expect(pair.updatesSent.last?.upserts.map(\.key.name) == ["d"])

        // Disconnect and reconnect with nothing changed: zero resources (b is retried once, since
        // a new session does not know it was rejected; the data plane rejects it again).
        pair.closeBoth()
        pair.rejects = []
        let before = pair.updatesSent.count
        pair.connect()
        #expect(pair.updatesSent.count == before + 1)
        #expect(pair.updatesSent.last?.upserts.map(\.key.name) == ["b"])
        #expect(pair.agent.held == F.versions(["a": 3, "b": 10, "c": 7, "d": 11]))

        pair.closeBoth()
        let settled = pair.updatesSent.count
        pair.connect()
        #expect(pair.updatesSent.count == settled)
        #expect(pair.server.isEstablished && pair.agent.isEstablished)

        // Disconnected while the store changes: the next session sends exactly the difference.
        pair.closeBoth()
        pair.view = F.view(12, F.resource("a", 12), F.resource("b", 10), F.resource("d", 11))
        pair.connect()
        #expect(pair.updatesSent.count == settled + 1)
        #expect(pair.updatesSent.last == Update(revision: 12, isSnapshot: false, upserts: [F.resource("a", 12)], removals: [F.key("c")]))
        #expect(pair.agent.held == F.versions(["a": 12, "b": 10, "d": 11]))
        #expect(pair.agent.appliedRevision == 12)
    }
}
