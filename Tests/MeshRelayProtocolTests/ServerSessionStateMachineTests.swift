import MeshRelayProtocol
import Testing

@Suite("ServerSessionStateMachine")
struct ServerSessionStateMachineTests {
    typealias F = SessionFixtures
    typealias Machine = ServerSessionStateMachine

    // MARK: Handshake and first sync

    @Test("HELLO asks for a lookup of the certificate's cluster; nothing else happens before it")
    func helloAsksForLookup() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        #expect(machine.nextTimerDeadline == F.at(.seconds(5)))
        #expect(machine.messageReceived(.hello(F.hello()), now: F.at(.seconds(1))) == [.lookUpCluster(F.cluster)])
        #expect(!machine.isEstablished)
        #expect(machine.nextTimerDeadline == F.at(.seconds(5)))
    }

    @Test("first sync (agent holds nothing): established, WELCOME, then the whole view as one snapshot")
    func firstSyncSendsSnapshot() {
        let view = F.view(5, F.resource("b", 4), F.resource("a", 5))
        let hello = F.hello()
        let (machine, actions) = F.server(hello: hello, view: view)
        #expect(
            actions == [
                .established(cluster: F.cluster, hello: hello, protocolVersion: 1),
                .send(.welcome(F.welcome(revision: 5))),
                .sendSnapshot(view),
            ]
        )
        #expect(machine.isEstablished)
        #expect(machine.inFlightRevision == 5)
        #expect(machine.knownVersions == F.versions(["a": 5, "b": 4]))
        #expect(view.snapshotUpdate.upserts.map(\.key.name) == ["a", "b"])
        #expect(view.snapshotUpdate.isSnapshot && view.snapshotUpdate.removals.isEmpty)
    }

    @Test("first sync ever of an empty view: an empty snapshot, so the agent learns it is in sync")
    func firstSyncOfEmptyView() {
        let view = F.view(3)
        let (machine, actions) = F.server(view: view)
        #expect(actions.last == .sendSnapshot(view))
        #expect(machine.inFlightRevision == 3)
    }

    @Test("an agent that synced before, holds nothing, and the view is empty: no update")
    func emptyAgentEmptyViewAfterEarlierSync() {
        let (machine, actions) = F.server(hello: F.hello(appliedRevision: 9), view: F.view(12))
        #expect(sentTypes(actions) == [.welcome])
        #expect(actions.last == .synchronized(revision: 12))
        #expect(machine.inFlightRevision == nil)
    }

    @Test("reconnect with nothing changed: WELCOME and no UPDATE (zero resources transferred)")
    func reconnectWithEqualState() {
        let view = F.view(8, F.resource("a", 2), F.resource("b", 8))
        let hello = F.hello(appliedRevision: 8, held: F.held(["a": 2, "b": 8]))
        let (machine, actions) = F.server(hello: hello, view: view)
        #expect(
            actions == [
                .established(cluster: F.cluster, hello: hello, protocolVersion: 1),
                .recordHeld(
                    revision: 8,
                    results: [
                        ResourceResult(key: F.key("a"), version: 2, state: .applied),
                        ResourceResult(key: F.key("b"), version: 8, state: .applied),
                    ]
                ),
                .send(.welcome(F.welcome(revision: 8))),
                .synchronized(revision: 8),
            ]
        )
        #expect(machine.inFlightRevision == nil)
    }

    @Test("what the agent holds at the desired version is recorded from HELLO, with its warning; stale versions are not")
    func heldVersionsAreRecorded() {
        let view = F.view(20, F.resource("a", 1), F.resource("b", 14), F.resource("w", 5))
        let held = [
            HeldResource(key: F.key("a"), version: 1),
            HeldResource(key: F.key("b"), version: 3),
            HeldResource(key: F.key("c"), version: 7),
            HeldResource(key: F.key("w"), version: 5, warning: "wildcard host without endpoints"),
        ]
        let hello = F.hello(appliedRevision: 10, held: held)
        let (_, actions) = F.server(hello: hello, view: view)
        let recorded = actions.compactMap { action -> [ResourceResult]? in
            if case .recordHeld(let revision, let results) = action, revision == 10 { return results }
            return nil
        }
        #expect(
            recorded == [
                [
                    ResourceResult(key: F.key("a"), version: 1, state: .applied),
                    ResourceResult(key: F.key("w"), version: 5, state: .warning, message: "wildcard host without endpoints"),
                ]
            ]
        )
    }

    @Test("an agent holding nothing current records nothing from HELLO")
    func nothingHeldNothingRecorded() {
        let (_, actions) = F.server(hello: F.hello(appliedRevision: 3, held: F.held(["a": 1])), view: F.view(5, F.resource("a", 4)))
        #expect(!actions.contains { if case .recordHeld = $0 { true } else { false } })
    }

    @Test("reconnect after changes and removals: exactly the difference, as a delta")
    func reconnectSendsTheDifference() {
        let view = F.view(20, F.resource("a", 1), F.resource("b", 14), F.resource("d", 20))
        let hello = F.hello(appliedRevision: 10, held: F.held(["a": 1, "b": 3, "c": 7]))
        let (machine, actions) = F.server(hello: hello, view: view)
        let expected = Update(
            revision: 20,
            isSnapshot: false,
            upserts: [F.resource("b", 14), F.resource("d", 20)],
            removals: [F.key("c")]
        )
        #expect(actions.last == .send(.update(expected)))
        #expect(machine.knownVersions == F.versions(["a": 1, "b": 14, "d": 20]))
        #expect(machine.inFlightRevision == 20)
    }

    @Test("an agent holding a newer version than the store (restored store) gets the store's version")
    func newerHeldVersionIsReplaced() {
        let (_, actions) = F.server(hello: F.hello(held: F.held(["a": 9])), view: F.view(5, F.resource("a", 4)))
        #expect(actions.last == .send(.update(Update(revision: 5, isSnapshot: false, upserts: [F.resource("a", 4)], removals: []))))
    }

    @Test("the highest protocol version in common is picked")
    func picksHighestCommonVersion() {
        var configuration = F.serverConfiguration
        configuration.supportedVersions = [1, 2, 3]
        let hello = F.hello(protocolVersions: [4, 2, 3])
        let (_, actions) = F.server(hello: hello, view: F.view(1), configuration: configuration)
        #expect(actions.first == .established(cluster: F.cluster, hello: hello, protocolVersion: 3))
        #expect(sentMessages(actions).first == .welcome(F.welcome(revision: 1, protocolVersion: 3)))
    }

    struct RefusalCase: Sendable, CustomTestStringConvertible {
        var name: String
        var hello: Hello
        /// `nil`: refused before the lookup.
        var lookup: Machine.ClusterLookup?
        var code: RelayErrorCode
        var retryAfterMilliseconds: UInt32
        var messageMentions: String
        var testDescription: String { name }
    }

    static let refusals: [RefusalCase] = [
        RefusalCase(
            name: "no common protocol version",
            hello: F.hello(protocolVersions: [2, 3]),
            lookup: nil,
            code: .unsupportedVersion,
            retryAfterMilliseconds: 30_000,
            messageMentions: "no protocol version in common"
        ),
        RefusalCase(
            name: "HELLO names another cluster than the certificate",
            hello: F.hello(cluster: "cluster-2"),
            lookup: nil,
            code: .identityMismatch,
            retryAfterMilliseconds: 30_000,
            messageMentions: "\"cluster-2\""
        ),
        RefusalCase(
            name: "unregistered cluster",
            hello: F.hello(),
            lookup: .unregistered,
            code: .unknownCluster,
            retryAfterMilliseconds: 30_000,
            messageMentions: "apply a KubernetesCluster named \"cluster-1\""
        ),
        RefusalCase(
            name: "lookup failed",
            hello: F.hello(),
            lookup: .failed("database is locked"),
            code: .internalError,
            retryAfterMilliseconds: 0,
            messageMentions: "database is locked"
        ),
    ]

    @Test("refused HELLOs: REFUSE with the code and a loggable message, then close", arguments: refusals)
    func refusal(_ testCase: RefusalCase) {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        var actions = machine.messageReceived(.hello(testCase.hello), now: F.origin)
        if let lookup = testCase.lookup {
            #expect(actions == [.lookUpCluster(F.cluster)])
            actions = machine.clusterLookedUp(lookup, now: F.origin)
        }
        #expect(actions.count == 2)
        guard case .send(.refuse(let refuse)) = actions.first else {
            Issue.record("expected REFUSE first, got \(actions)")
            return
        }
        #expect(refuse.code == testCase.code)
        #expect(refuse.retryAfterMilliseconds == testCase.retryAfterMilliseconds)
        #expect(refuse.message.contains(testCase.messageMentions))
        #expect(actions.last == .close(code: testCase.code, message: refuse.message))
        #expect(!machine.isEstablished)
        #expect(machine.nextTimerDeadline == nil)
        // Nothing follows a refusal, and the closed channel records no disconnection.
        #expect(machine.viewChanged(F.view(99, F.resource("a", 99))) == [])
        #expect(machine.channelClosed() == [])
    }

    @Test("a view published during the lookup is newer than the lookup's: the newer one is sent")
    func viewDuringLookupWins() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        _ = machine.messageReceived(.hello(F.hello()), now: F.origin)
        let newer = F.view(7, F.resource("a", 7))
        #expect(machine.viewChanged(newer) == [])
        let actions = machine.clusterLookedUp(.registered(F.view(6, F.resource("a", 6))), now: F.origin)
        #expect(sentMessages(actions) == [.welcome(F.welcome(revision: 7)), .update(newer.snapshotUpdate)])
    }

    // MARK: ACK / NACK

    @Test("per-resource NACK: the others are recorded applied; the failed version is not resent until it changes")
    func nackOfOneResource() {
        let view = F.view(5, F.resource("a", 5), F.resource("b", 5), F.resource("c", 5))
        var (machine, _) = F.server(view: view)
        let results = [F.applied("a", 5), F.failed("b", 5, "port 0 is invalid"), F.warning("c", 5)]
        #expect(
            machine.messageReceived(.ack(Ack(revision: 5, results: results)), now: F.at(.seconds(1)))
                == [.recordAck(revision: 5, results: results, generations: [1, 1, 1]), .synchronized(revision: 5)]
        )
        #expect(machine.inFlightRevision == nil)

        // Another resource changes: only it is sent, not the rejected b@5.
        let next = F.view(6, F.resource("a", 5), F.resource("b", 5), F.resource("c", 5), F.resource("d", 6))
        #expect(
            machine.viewChanged(next)
                == [.send(.update(Update(revision: 6, isSnapshot: false, upserts: [F.resource("d", 6)], removals: [])))]
        )
        _ = machine.messageReceived(F.ack(6, F.applied("d", 6)), now: F.at(.seconds(2)))

        // A view that changes nothing for the agent: nothing is sent.
        let same = F.view(7, F.resource("a", 5), F.resource("b", 5), F.resource("c", 5), F.resource("d", 6))
        #expect(machine.viewChanged(same) == [.synchronized(revision: 7)])

        // b changes: the new version is sent.
        let fixed = F.view(8, F.resource("a", 5), F.resource("b", 8), F.resource("c", 5), F.resource("d", 6))
        #expect(
            machine.viewChanged(fixed)
                == [.send(.update(Update(revision: 8, isSnapshot: false, upserts: [F.resource("b", 8)], removals: [])))]
        )
    }

    @Test("ACK when the difference to the latest view is empty: recorded, then synchronized at the latest revision")
    func ackThenSynchronized() {
        var (machine, _) = F.server(view: F.view(5, F.resource("a", 5)))
        #expect(machine.viewChanged(F.view(6, F.resource("a", 5))) == [])
        #expect(
            machine.messageReceived(F.ack(5, F.applied("a", 5)), now: F.origin)
                == [.recordAck(revision: 5, results: [F.applied("a", 5)], generations: [1]), .synchronized(revision: 6)]
        )
    }

    @Test("an ACK's results carry the generation each version was sent with, even after the view moved on")
    func ackCarriesTheSentGenerations() {
        var sentA = F.resource("a", 5)
        sentA.generation = 3
        var sentB = F.resource("b", 5)
        sentB.generation = 7
        var (machine, _) = F.server(view: F.view(5, sentA, sentB))
        // a changes while the snapshot is in flight: the ACK still reports a@5 at generation 3.
        var newerA = F.resource("a", 6)
        newerA.generation = 4
        #expect(machine.viewChanged(F.view(6, newerA, sentB)) == [])
        let results = [F.applied("a", 5), F.failed("b", 5, "no")]
        let actions = machine.messageReceived(.ack(Ack(revision: 5, results: results)), now: F.origin)
        #expect(actions.first == .recordAck(revision: 5, results: results, generations: [3, 7]))
        // The difference (a@6) went out; a result for a@5 now names a version not sent.
        let wrong = machine.messageReceived(F.ack(6, F.applied("a", 5)), now: F.origin)
        #expect(wrong.contains { if case .close(.protocolViolation, _) = $0 { true } else { false } })
    }

    // MARK: Coalescing and flow control

    @Test("latest wins: three views while an UPDATE is in flight, one UPDATE with the latest difference after the ACK")
    func latestWins() {
        var (machine, _) = F.server(hello: F.hello(held: F.held(["a": 1, "b": 1])), view: F.view(2, F.resource("a", 2), F.resource("b", 1)))
        #expect(machine.inFlightRevision == 2)

        #expect(machine.viewChanged(F.view(3, F.resource("a", 3), F.resource("b", 1))) == [])
        #expect(machine.viewChanged(F.view(4, F.resource("a", 3), F.resource("c", 4))) == [])
        #expect(machine.viewChanged(F.view(5, F.resource("a", 5), F.resource("c", 4))) == [])
        // An older view never replaces a newer one.
        #expect(machine.viewChanged(F.view(4, F.resource("z", 4))) == [])
        #expect(machine.inFlightRevision == 2)

        let actions = machine.messageReceived(F.ack(2, F.applied("a", 2)), now: F.at(.seconds(1)))
        #expect(
            actions == [
                .recordAck(revision: 2, results: [F.applied("a", 2)], generations: [1]),
                .send(.update(Update(revision: 5, isSnapshot: false, upserts: [F.resource("a", 5), F.resource("c", 4)], removals: [F.key("b")]))),
            ]
        )
        #expect(machine.inFlightRevision == 5)
    }

    @Test("not writable: nothing is sent until the channel is writable again, then only the latest difference")
    func notWritable() {
        var (machine, _) = F.server(hello: F.hello(held: F.held(["a": 1])), view: F.view(1, F.resource("a", 1)))
        #expect(machine.writabilityChanged(false) == [])
        #expect(machine.viewChanged(F.view(2, F.resource("a", 2))) == [])
        #expect(machine.viewChanged(F.view(3, F.resource("a", 3))) == [])
        // Heartbeats still go out.
        #expect(sentTypes(machine.timerFired(now: F.at(F.interval))) == [.heartbeat])
        #expect(
            machine.writabilityChanged(true)
                == [.send(.update(Update(revision: 3, isSnapshot: false, upserts: [F.resource("a", 3)], removals: [])))]
        )
        #expect(machine.writabilityChanged(true) == [])
    }

    @Test("not writable at WELCOME: the snapshot waits for writability")
    func snapshotWaitsForWritability() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        #expect(machine.writabilityChanged(false) == [])
        _ = machine.messageReceived(.hello(F.hello()), now: F.origin)
        let view = F.view(4, F.resource("a", 4))
        #expect(sentTypes(machine.clusterLookedUp(.registered(view), now: F.origin)) == [.welcome])
        #expect(machine.writabilityChanged(true) == [.sendSnapshot(view)])
    }

    @Test("after everything was removed, the next resources go as a snapshot (the agent holds nothing)")
    func snapshotAfterEverythingRemoved() {
        var (machine, _) = F.server(hello: F.hello(held: F.held(["a": 1])), view: F.view(2))
        #expect(machine.inFlightRevision == 2)
        _ = machine.messageReceived(F.ack(2), now: F.origin)
        let view = F.view(3, F.resource("b", 3))
        #expect(machine.viewChanged(view) == [.sendSnapshot(view)])
    }

    // MARK: Heartbeats and deadlines

    @Test("heartbeats go out every interval, one per interval even when the timer fires late")
    func heartbeats() {
        var (machine, _) = F.server(hello: F.hello(held: F.held(["a": 1])), view: F.view(1, F.resource("a", 1)))
        #expect(machine.nextTimerDeadline == F.at(.seconds(10)))
        #expect(machine.timerFired(now: F.at(.seconds(9))) == [])
        #expect(machine.timerFired(now: F.at(.seconds(10))) == [.send(.heartbeat(Heartbeat(sequence: 1)))])
        #expect(machine.timerFired(now: F.at(.seconds(15))) == [])
        _ = machine.messageReceived(.heartbeat(Heartbeat(sequence: 1)), now: F.at(.seconds(15)))
        #expect(machine.nextTimerDeadline == F.at(.seconds(20)))
        #expect(machine.timerFired(now: F.at(.seconds(20))) == [.send(.heartbeat(Heartbeat(sequence: 2)))])
        _ = machine.messageReceived(.heartbeat(Heartbeat(sequence: 2)), now: F.at(.seconds(26)))
        // Fired late (at 38 s instead of 30 s): one heartbeat, next one at 40 s.
        #expect(machine.timerFired(now: F.at(.seconds(38))) == [.send(.heartbeat(Heartbeat(sequence: 3)))])
        #expect(machine.nextTimerDeadline == F.at(.seconds(40)))
    }

    struct SilenceCase: Sendable, CustomTestStringConvertible {
        var silence: Duration
        var dead: Bool
        var testDescription: String { "\(silence) of silence → \(dead ? "dead" : "alive")" }
    }

    static let silences: [SilenceCase] = [
        SilenceCase(silence: .seconds(10), dead: false),
        SilenceCase(silence: .seconds(29), dead: false),
        SilenceCase(silence: .milliseconds(29_999), dead: false),
        SilenceCase(silence: .seconds(30), dead: true),
        SilenceCase(silence: .seconds(45), dead: true),
    ]

    @Test("an agent silent for 3 heartbeat intervals is dead (heartbeatTimeout)", arguments: silences)
    func silence(_ testCase: SilenceCase) {
        var (machine, _) = F.server(hello: F.hello(held: F.held(["a": 1])), view: F.view(1, F.resource("a", 1)))
        // The last frame arrives at 5 s; silence counts from there.
        _ = machine.messageReceived(.heartbeat(Heartbeat(sequence: 1)), now: F.at(.seconds(5)))
        let actions = machine.timerFired(now: F.at(.seconds(5) + testCase.silence))
        if testCase.dead {
            #expect(sentTypes(actions) == [.goodbye])
            #expect(closeCode(actions) == .heartbeatTimeout)
            #expect(machine.channelClosed() == [.disconnected(cluster: F.cluster)])
        } else {
            #expect(closeCode(actions) == nil)
            #expect(machine.isEstablished)
        }
    }

    @Test("the silence deadline is part of nextTimerDeadline")
    func silenceDeadlineIsArmed() {
        var (machine, _) = F.server(hello: F.hello(held: F.held(["a": 1])), view: F.view(1, F.resource("a", 1)))
        _ = machine.timerFired(now: F.at(.seconds(10)))
        _ = machine.timerFired(now: F.at(.seconds(20)))
        #expect(machine.nextTimerDeadline == F.at(.seconds(30)))
        #expect(closeCode(machine.timerFired(now: F.at(.seconds(30)))) == .heartbeatTimeout)
    }

    @Test("no HELLO within the handshake timeout: GOODBYE(handshakeTimeout) and close")
    func handshakeDeadline() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        #expect(machine.timerFired(now: F.at(.milliseconds(4_999))) == [])
        let actions = machine.timerFired(now: F.at(.seconds(5)))
        #expect(sentTypes(actions) == [.goodbye])
        #expect(closeCode(actions) == .handshakeTimeout)
        #expect(machine.nextTimerDeadline == nil)
        // A HELLO arriving after the close is ignored.
        #expect(machine.messageReceived(.hello(F.hello()), now: F.at(.seconds(6))) == [])
        #expect(machine.channelClosed() == [])
    }

    @Test("a lookup that does not answer within the handshake timeout: REFUSE(internalError); a late answer is ignored")
    func lookupDeadline() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        _ = machine.messageReceived(.hello(F.hello()), now: F.at(.seconds(1)))
        let actions = machine.timerFired(now: F.at(.seconds(5)))
        #expect(sentTypes(actions) == [.refuse])
        #expect(closeCode(actions) == .internalError)
        #expect(machine.clusterLookedUp(.registered(F.view(1)), now: F.at(.seconds(6))) == [])
    }

    // MARK: Frames in the wrong order

    enum Phase: Sendable {
        case awaitingHello, lookingUp, established, establishedWithUpdateInFlight
    }

    struct ViolationCase: Sendable, CustomTestStringConvertible {
        var name: String
        var phase: Phase
        var message: RelayMessage
        var testDescription: String { name }
    }

    static let violations: [ViolationCase] = [
        ViolationCase(name: "ACK before HELLO", phase: .awaitingHello, message: F.ack(1)),
        ViolationCase(name: "HEARTBEAT before HELLO", phase: .awaitingHello, message: .heartbeat(Heartbeat(sequence: 1))),
        ViolationCase(name: "UPDATE from an agent before HELLO", phase: .awaitingHello, message: .update(F.view(1).snapshotUpdate)),
        ViolationCase(name: "WELCOME from an agent", phase: .awaitingHello, message: .welcome(F.welcome(revision: 1))),
        ViolationCase(name: "a second HELLO during the lookup", phase: .lookingUp, message: .hello(F.hello())),
        ViolationCase(name: "HEARTBEAT before WELCOME", phase: .lookingUp, message: .heartbeat(Heartbeat(sequence: 1))),
        ViolationCase(name: "ACK before WELCOME", phase: .lookingUp, message: F.ack(1)),
        ViolationCase(name: "a second HELLO", phase: .established, message: .hello(F.hello())),
        ViolationCase(name: "UPDATE from an agent", phase: .established, message: .update(F.view(1).snapshotUpdate)),
        ViolationCase(name: "WELCOME from an agent", phase: .established, message: .welcome(F.welcome(revision: 1))),
        ViolationCase(name: "REFUSE from an agent", phase: .established, message: .refuse(Refuse(code: .normal, message: ""))),
        ViolationCase(name: "DRAIN from an agent", phase: .established, message: .drain(Drain(message: "", closeAfterMilliseconds: 0))),
        ViolationCase(name: "ACK with no UPDATE in flight", phase: .established, message: F.ack(1)),
        ViolationCase(name: "ACK of another revision", phase: .establishedWithUpdateInFlight, message: F.ack(4, F.applied("a", 5))),
        ViolationCase(
            name: "ACK reporting a resource the session did not send",
            phase: .establishedWithUpdateInFlight,
            message: F.ack(5, F.applied("a", 5), F.applied("other-clusters-service", 5))
        ),
        ViolationCase(
            name: "ACK reporting another version than sent",
            phase: .establishedWithUpdateInFlight,
            message: F.ack(5, F.applied("a", 4))
        ),
    ]

    @Test("frames in the wrong order close the session with protocolViolation", arguments: violations)
    func wrongOrder(_ testCase: ViolationCase) {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        let held = F.held(["a": 1])
        switch testCase.phase {
        case .awaitingHello:
            break
        case .lookingUp:
            _ = machine.messageReceived(.hello(F.hello(held: held)), now: F.origin)
        case .established:
            machine = F.server(hello: F.hello(held: held), view: F.view(1, F.resource("a", 1))).machine
        case .establishedWithUpdateInFlight:
            machine = F.server(hello: F.hello(held: held), view: F.view(5, F.resource("a", 5))).machine
            #expect(machine.inFlightRevision == 5)
        }
        let actions = machine.messageReceived(testCase.message, now: F.at(.seconds(1)))
        #expect(actions.count == 2)
        guard case .send(.goodbye(let goodbye)) = actions.first else {
            Issue.record("expected GOODBYE first, got \(actions)")
            return
        }
        #expect(goodbye.code == .protocolViolation)
        #expect(actions.last == .close(code: .protocolViolation, message: goodbye.message))
        #expect(machine.messageReceived(.heartbeat(Heartbeat(sequence: 9)), now: F.at(.seconds(2))) == [])
    }

    @Test("a HELLO listing a resource twice is a protocol violation")
    func duplicateHeldKey() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        let actions = machine.messageReceived(.hello(F.hello(held: F.held(["a": 1, "a": 2]))), now: F.origin)
        #expect(closeCode(actions) == .protocolViolation)
    }

    // MARK: Drain, goodbye, errors, close

    @Test("drain: DRAIN, no further updates, ACKs still recorded, GOODBYE(draining) and close at the drain timeout")
    func drain() {
        var (machine, _) = F.server(view: F.view(5, F.resource("a", 5)))
        let drain = machine.drain(now: F.at(.seconds(1)))
        #expect(drain.count == 1)
        guard case .send(.drain(let message)) = drain.first else {
            Issue.record("expected DRAIN, got \(drain)")
            return
        }
        #expect(message.closeAfterMilliseconds == 3_000)
        #expect(machine.drain(now: F.at(.seconds(2))) == [])
        #expect(machine.nextTimerDeadline == F.at(.seconds(4)))

        #expect(
            machine.messageReceived(F.ack(5, F.applied("a", 5)), now: F.at(.seconds(2)))
                == [.recordAck(revision: 5, results: [F.applied("a", 5)], generations: [1]), .synchronized(revision: 5)]
        )
        #expect(machine.viewChanged(F.view(6, F.resource("a", 6))) == [])

        #expect(machine.timerFired(now: F.at(.milliseconds(3_999))) == [])
        let actions = machine.timerFired(now: F.at(.seconds(4)))
        #expect(sentMessages(actions).map(\.frameType) == [.goodbye])
        #expect(closeCode(actions) == .draining)
        #expect(machine.channelClosed() == [.disconnected(cluster: F.cluster)])
    }

    @Test("drain during the handshake: GOODBYE(draining) and close at once")
    func drainDuringHandshake() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        let actions = machine.drain(now: F.origin)
        #expect(sentTypes(actions) == [.goodbye])
        #expect(closeCode(actions) == .draining)
    }

    @Test("GOODBYE from the agent: close without answering; the session is recorded disconnected once")
    func agentGoodbye() {
        var (machine, _) = F.server(view: F.view(1))
        let actions = machine.messageReceived(.goodbye(Goodbye(code: .normal, message: "bye")), now: F.origin)
        #expect(actions.count == 1)
        #expect(closeCode(actions) == .normal)
        #expect(machine.channelClosed() == [.disconnected(cluster: F.cluster)])
        #expect(machine.channelClosed() == [])
    }

    @Test("a decoding error: GOODBYE with its code, then close")
    func frameError() {
        var (machine, _) = F.server(view: F.view(1))
        let actions = machine.frameError(.malformedFrame, message: "length 9999999 over the limit")
        #expect(
            actions == [
                .send(.goodbye(Goodbye(code: .malformedFrame, message: "length 9999999 over the limit"))),
                .close(code: .malformedFrame, message: "length 9999999 over the limit"),
            ]
        )
        #expect(machine.frameError(.malformedFrame, message: "again") == [])
    }

    @Test("the cluster is unregistered during the session: GOODBYE(unknownCluster)")
    func unregistered() {
        var (machine, _) = F.server(view: F.view(1))
        #expect(closeCode(machine.clusterUnregistered()) == .unknownCluster)
    }

    @Test("the channel closes under an established session: disconnected, then every event is ignored")
    func channelClosed() {
        var (machine, _) = F.server(view: F.view(5, F.resource("a", 5)))
        #expect(machine.channelClosed() == [.disconnected(cluster: F.cluster)])
        #expect(machine.knownVersions.isEmpty)
        #expect(machine.viewChanged(F.view(6, F.resource("a", 6))) == [])
        #expect(machine.messageReceived(F.ack(5), now: F.origin) == [])
        #expect(machine.timerFired(now: F.at(.seconds(100))) == [])
        #expect(machine.drain(now: F.origin) == [])
        #expect(machine.nextTimerDeadline == nil)
    }

    @Test("the channel closes before WELCOME: no disconnection to record")
    func channelClosedBeforeWelcome() {
        var machine = Machine(configuration: F.serverConfiguration, identity: F.cluster, now: F.origin)
        _ = machine.messageReceived(.hello(F.hello()), now: F.origin)
        #expect(machine.channelClosed() == [])
        #expect(machine.clusterLookedUp(.registered(F.view(1)), now: F.origin) == [])
    }
}
