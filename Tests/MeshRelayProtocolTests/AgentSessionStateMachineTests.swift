import MeshRelayProtocol
import Testing

@Suite("AgentSessionStateMachine")
struct AgentSessionStateMachineTests {
    typealias F = SessionFixtures
    typealias Machine = AgentSessionStateMachine

    // MARK: Handshake

    @Test("connected: HELLO with versions, cluster, agent version, applied revision and every held version (sorted)")
    func helloOnConnect() {
        var machine = Machine(configuration: F.agentConfiguration, held: F.held(["b": 2, "a": 1]), appliedRevision: 4)
        let actions = machine.connected(now: F.origin)
        #expect(
            actions == [
                .send(
                    .hello(
                        Hello(
                            protocolVersions: [1],
                            cluster: F.cluster,
                            agentVersion: "0.9.0-test",
                            appliedRevision: 4,
                            held: F.held(["a": 1, "b": 2]),
                            outboundPolicy: "REGISTRY_ONLY"
                        )
                    )
                )
            ]
        )
        #expect(machine.nextTimerDeadline == F.at(.seconds(7)))
        #expect(machine.connected(now: F.origin) == [])
    }

    @Test("WELCOME establishes the session; heartbeats follow its interval")
    func welcome() {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        _ = machine.connected(now: F.origin)
        let welcome = F.welcome(revision: 3)
        #expect(machine.messageReceived(.welcome(welcome), now: F.at(.seconds(1))) == [.established(welcome)])
        #expect(machine.isEstablished)
        #expect(machine.nextTimerDeadline == F.at(.seconds(11)))
        #expect(machine.timerFired(now: F.at(.seconds(10))) == [])
        #expect(machine.timerFired(now: F.at(.seconds(11))) == [.send(.heartbeat(Heartbeat(sequence: 1)))])
        _ = machine.messageReceived(.heartbeat(Heartbeat(sequence: 1)), now: F.at(.seconds(12)))
        #expect(machine.timerFired(now: F.at(.seconds(21))) == [.send(.heartbeat(Heartbeat(sequence: 2)))])
    }

    @Test("REFUSE: close without GOODBYE, reconnect after backoff but not before retryAfter")
    func refuse() {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        _ = machine.connected(now: F.origin)
        let refuse = Refuse(code: .unknownCluster, message: "register it", retryAfterMilliseconds: 30_000)
        let actions = machine.messageReceived(.refuse(refuse), now: F.origin)
        #expect(actions == [.close(code: .unknownCluster, message: "the server refused the session: register it")])
        #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .seconds(30)))])
    }

    @Test("no WELCOME within the hello timeout: GOODBYE(handshakeTimeout), close, reconnect after backoff")
    func helloDeadline() {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        _ = machine.connected(now: F.origin)
        #expect(machine.timerFired(now: F.at(.milliseconds(6_999))) == [])
        let actions = machine.timerFired(now: F.at(.seconds(7)))
        #expect(sentTypes(actions) == [.goodbye])
        #expect(closeCode(actions) == .handshakeTimeout)
        #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
    }

    struct BadWelcomeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var welcome: Welcome
        var testDescription: String { name }
    }

    static let badWelcomes: [BadWelcomeCase] = {
        var otherVersion = F.welcome(revision: 1)
        otherVersion.protocolVersion = 2
        var otherCluster = F.welcome(revision: 1)
        otherCluster.cluster = "cluster-2"
        var noInterval = F.welcome(revision: 1)
        noInterval.heartbeatIntervalMilliseconds = 0
        return [
            BadWelcomeCase(name: "a protocol version the agent did not offer", welcome: otherVersion),
            BadWelcomeCase(name: "another cluster", welcome: otherCluster),
            BadWelcomeCase(name: "a heartbeat interval of 0", welcome: noInterval),
        ]
    }()

    @Test("a WELCOME the agent cannot accept is a protocol violation", arguments: badWelcomes)
    func badWelcome(_ testCase: BadWelcomeCase) {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        _ = machine.connected(now: F.origin)
        let actions = machine.messageReceived(.welcome(testCase.welcome), now: F.origin)
        #expect(sentTypes(actions) == [.goodbye])
        #expect(closeCode(actions) == .protocolViolation)
        #expect(!machine.isEstablished)
    }

    // MARK: Updates

    @Test("UPDATE → apply; completion → ACK with the results; held follows applied and warning, not failed")
    func applyAndAck() {
        var machine = F.agent(held: F.held(["a": 1, "b": 1, "c": 1, "gone": 1]), appliedRevision: 1)
        let update = Update(
            revision: 5,
            isSnapshot: false,
            upserts: [F.resource("a", 5), F.resource("b", 5), F.resource("c", 5), F.resource("new", 5), F.resource("bad-new", 5)],
            removals: [F.key("gone")]
        )
        #expect(machine.messageReceived(.update(update), now: F.origin) == [.apply(update)])
        #expect(machine.isApplying)
        let results = [
            F.applied("a", 5), F.failed("b", 5), F.warning("c", 5), F.applied("new", 5), F.failed("bad-new", 5),
        ]
        #expect(
            machine.applyCompleted(revision: 5, results: results, now: F.at(.seconds(1)))
                == [.send(.ack(Ack(revision: 5, results: results)))]
        )
        #expect(!machine.isApplying)
        #expect(machine.held == F.versions(["a": 5, "b": 1, "c": 5, "new": 5]))
        #expect(machine.appliedRevision == 5)
        var expectedHeld = F.held(["a": 5, "b": 1, "c": 5, "new": 5])
        for index in expectedHeld.indices where expectedHeld[index].key == F.key("c") {
            expectedHeld[index].warning = F.warning("c", 5).message
        }
        #expect(machine.hello.held == expectedHeld, "HELLO carries the warning of a version applied with one")
        #expect(machine.hello.appliedRevision == 5)

        // A clean apply of a newer version clears the warning; a removal forgets it.
        let next = Update(revision: 6, isSnapshot: false, upserts: [F.resource("c", 6)], removals: [])
        _ = machine.messageReceived(.update(next), now: F.at(.seconds(2)))
        _ = machine.applyCompleted(revision: 6, results: [F.applied("c", 6)], now: F.at(.seconds(2)))
        #expect(machine.warnings.isEmpty)
        #expect(machine.hello.held.allSatisfy { $0.warning.isEmpty })
    }

    @Test("warnings held from a previous run are announced again and dropped with their resource")
    func warningsSurviveARestart() {
        let held = [HeldResource(key: F.key("a"), version: 2, warning: "careful"), HeldResource(key: F.key("b"), version: 2)]
        var machine = F.agent(held: held, appliedRevision: 2)
        #expect(machine.hello.held == held)
        #expect(machine.warnings == [F.key("a"): "careful"])
        let update = Update(revision: 3, isSnapshot: false, upserts: [], removals: [F.key("a")])
        _ = machine.messageReceived(.update(update), now: F.origin)
        _ = machine.applyCompleted(revision: 3, results: [], now: F.origin)
        #expect(machine.warnings.isEmpty)
    }

    @Test("a snapshot replaces the held set; a failed resource keeps its previous version")
    func snapshotApply() {
        var machine = F.agent(held: F.held(["a": 1, "b": 1, "stale": 1]))
        let update = F.view(6, F.resource("a", 6), F.resource("b", 6), F.resource("c", 6)).snapshotUpdate
        _ = machine.messageReceived(.update(update), now: F.origin)
        _ = machine.applyCompleted(revision: 6, results: [F.applied("a", 6), F.failed("b", 6), F.failed("c", 6)], now: F.origin)
        #expect(machine.held == F.versions(["a": 6, "b": 1]))
    }

    @Test("results that match no upsert of the update are left out of the ACK and of held")
    func strayResultsFiltered() {
        var machine = F.agent()
        let update = Update(revision: 2, isSnapshot: false, upserts: [F.resource("a", 2)], removals: [])
        _ = machine.messageReceived(.update(update), now: F.origin)
        let actions = machine.applyCompleted(
            revision: 2,
            results: [F.applied("a", 2), F.applied("a", 2), F.applied("x", 2), F.applied("a", 1)],
            now: F.origin
        )
        #expect(actions == [.send(.ack(Ack(revision: 2, results: [F.applied("a", 2)])))])
        #expect(machine.held == F.versions(["a": 2]))
    }

    @Test("results in another order than the upserts are all kept, in their order (the lookup path)")
    func reorderedResults() {
        var machine = F.agent()
        let update = Update(revision: 3, isSnapshot: false, upserts: [F.resource("a", 3), F.resource("b", 3), F.resource("c", 3)], removals: [])
        _ = machine.messageReceived(.update(update), now: F.origin)
        let results = [F.applied("c", 3), F.failed("a", 3), F.applied("b", 3)]
        #expect(machine.applyCompleted(revision: 3, results: results, now: F.origin) == [.send(.ack(Ack(revision: 3, results: results)))])
        #expect(machine.held == F.versions(["b": 3, "c": 3]))
    }

    @Test("an apply completion for another revision than the one applying is ignored")
    func wrongCompletionIgnored() {
        var machine = F.agent()
        _ = machine.messageReceived(.update(Update(revision: 2, isSnapshot: false, upserts: [F.resource("a", 2)], removals: [])), now: F.origin)
        #expect(machine.applyCompleted(revision: 3, results: [], now: F.origin) == [])
        #expect(machine.isApplying)
    }

    @Test("a second UPDATE while one is being applied is a protocol violation")
    func updateWhileApplying() {
        var machine = F.agent()
        _ = machine.messageReceived(.update(F.view(2, F.resource("a", 2)).snapshotUpdate), now: F.origin)
        let actions = machine.messageReceived(.update(F.view(3, F.resource("a", 3)).snapshotUpdate), now: F.origin)
        #expect(closeCode(actions) == .protocolViolation)
    }

    // MARK: Disconnects

    @Test("a disconnect keeps everything held; the next HELLO lists it")
    func heldSurvivesDisconnect() {
        var machine = F.agent()
        _ = machine.messageReceived(.update(F.view(4, F.resource("a", 4), F.resource("b", 4)).snapshotUpdate), now: F.origin)
        _ = machine.applyCompleted(revision: 4, results: [F.applied("a", 4), F.applied("b", 4)], now: F.origin)
        #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
        #expect(machine.held == F.versions(["a": 4, "b": 4]))
        #expect(machine.connected(now: F.at(.seconds(1))) == [.send(.hello(F.hello(appliedRevision: 4, held: F.held(["a": 4, "b": 4]))))])
    }

    @Test("an apply that completes after the connection closed still updates held, without an ACK")
    func applyCompletesAfterClose() {
        var machine = F.agent()
        _ = machine.messageReceived(.update(F.view(4, F.resource("a", 4)).snapshotUpdate), now: F.origin)
        _ = machine.channelClosed()
        #expect(machine.applyCompleted(revision: 4, results: [F.applied("a", 4)], now: F.origin) == [])
        #expect(machine.held == F.versions(["a": 4]))
    }

    @Test("reconnecting while an apply runs: HELLO waits for the apply, so it lists what is really held")
    func helloWaitsForApply() {
        var machine = F.agent()
        _ = machine.messageReceived(.update(F.view(4, F.resource("a", 4)).snapshotUpdate), now: F.origin)
        _ = machine.messageReceived(.drain(Drain(message: "bye", closeAfterMilliseconds: 1_000)), now: F.origin)
        #expect(machine.channelClosed() == [.reconnect(.nextAddressNow)])
        #expect(machine.connected(now: F.at(.seconds(1))) == [])
        #expect(machine.nextTimerDeadline == F.at(.seconds(8)))
        #expect(
            machine.applyCompleted(revision: 4, results: [F.applied("a", 4)], now: F.at(.seconds(2)))
                == [.send(.hello(F.hello(appliedRevision: 4, held: F.held(["a": 4]))))]
        )
        let welcome = F.welcome(revision: 4)
        #expect(machine.messageReceived(.welcome(welcome), now: F.at(.seconds(3))) == [.established(welcome)])
    }

    @Test("DRAIN: GOODBYE, close, and reconnect to the next address at once")
    func drain() {
        var machine = F.agent()
        let actions = machine.messageReceived(.drain(Drain(message: "shutting down", closeAfterMilliseconds: 5_000)), now: F.origin)
        #expect(sentTypes(actions) == [.goodbye])
        #expect(closeCode(actions) == .draining)
        #expect(machine.messageReceived(.heartbeat(Heartbeat(sequence: 1)), now: F.origin) == [])
        #expect(machine.channelClosed() == [.reconnect(.nextAddressNow)])
    }

    struct GoodbyeCase: Sendable, CustomTestStringConvertible {
        var code: RelayErrorCode
        var established: Bool
        var advice: ReconnectAdvice
        var testDescription: String { "GOODBYE(\(code)) \(established ? "after" : "before") WELCOME" }
    }

    static let goodbyes: [GoodbyeCase] = [
        GoodbyeCase(code: .draining, established: false, advice: .nextAddressNow),
        GoodbyeCase(code: .draining, established: true, advice: .nextAddressNow),
        GoodbyeCase(code: .normal, established: true, advice: .afterBackoff(minimum: .zero)),
        GoodbyeCase(code: .heartbeatTimeout, established: true, advice: .afterBackoff(minimum: .zero)),
        GoodbyeCase(code: .handshakeTimeout, established: false, advice: .afterBackoff(minimum: .zero)),
    ]

    @Test("GOODBYE from the server: close without answering, reconnect as the code says", arguments: goodbyes)
    func serverGoodbye(_ testCase: GoodbyeCase) {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        _ = machine.connected(now: F.origin)
        if testCase.established {
            _ = machine.messageReceived(.welcome(F.welcome(revision: 1)), now: F.origin)
        }
        let actions = machine.messageReceived(.goodbye(Goodbye(code: testCase.code, message: "m")), now: F.origin)
        #expect(actions.count == 1)
        #expect(closeCode(actions) == testCase.code)
        #expect(machine.channelClosed() == [.reconnect(testCase.advice)])
    }

    @Test("the connection breaks or fails: reconnect after backoff")
    func unexpectedClose() {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
        var established = F.agent()
        #expect(established.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
        #expect(!established.isEstablished)
        #expect(established.nextTimerDeadline == nil)
    }

    @Test("shutdown: GOODBYE(normal), close, and no reconnect")
    func shutdown() {
        var machine = F.agent()
        let actions = machine.shutdown()
        #expect(actions == [.send(.goodbye(Goodbye(code: .normal, message: "the agent is shutting down"))), .close(code: .normal, message: "the agent is shutting down")])
        #expect(machine.channelClosed() == [.reconnect(.stop)])
    }

    @Test("a decoding error: GOODBYE with its code, close, reconnect after backoff")
    func frameError() {
        var machine = F.agent()
        let actions = machine.frameError(.unsupportedMessage, message: "type 77")
        #expect(actions == [.send(.goodbye(Goodbye(code: .unsupportedMessage, message: "type 77"))), .close(code: .unsupportedMessage, message: "type 77")])
        #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
    }

    // MARK: Liveness

    struct SilenceCase: Sendable, CustomTestStringConvertible {
        var silence: Duration
        var dead: Bool
        var testDescription: String { "\(silence) of silence → \(dead ? "dead" : "alive")" }
    }

    static let silences: [SilenceCase] = [
        SilenceCase(silence: .seconds(20), dead: false),
        SilenceCase(silence: .seconds(29), dead: false),
        SilenceCase(silence: .seconds(30), dead: true),
    ]

    @Test("a server silent for 3 heartbeat intervals is dead (heartbeatTimeout)", arguments: silences)
    func silence(_ testCase: SilenceCase) {
        var machine = F.agent()
        _ = machine.messageReceived(.heartbeat(Heartbeat(sequence: 1)), now: F.at(.seconds(4)))
        let actions = machine.timerFired(now: F.at(.seconds(4) + testCase.silence))
        if testCase.dead {
            #expect(sentTypes(actions) == [.goodbye])
            #expect(closeCode(actions) == .heartbeatTimeout)
            #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
        } else {
            #expect(closeCode(actions) == nil)
            #expect(machine.isEstablished)
        }
    }

    // MARK: Frames in the wrong order

    enum Phase: Sendable {
        case awaitingWelcome, established
    }

    struct ViolationCase: Sendable, CustomTestStringConvertible {
        var name: String
        var phase: Phase
        var message: RelayMessage
        var testDescription: String { name }
    }

    static let violations: [ViolationCase] = [
        ViolationCase(name: "UPDATE before WELCOME", phase: .awaitingWelcome, message: .update(F.view(1).snapshotUpdate)),
        ViolationCase(name: "HEARTBEAT before WELCOME", phase: .awaitingWelcome, message: .heartbeat(Heartbeat(sequence: 1))),
        ViolationCase(name: "ACK from a server", phase: .awaitingWelcome, message: F.ack(1)),
        ViolationCase(name: "HELLO from a server", phase: .awaitingWelcome, message: .hello(F.hello())),
        ViolationCase(name: "a second WELCOME", phase: .established, message: .welcome(F.welcome(revision: 2))),
        ViolationCase(name: "REFUSE after WELCOME", phase: .established, message: .refuse(Refuse(code: .unknownCluster, message: ""))),
        ViolationCase(name: "HELLO after WELCOME", phase: .established, message: .hello(F.hello())),
        ViolationCase(name: "ACK after WELCOME", phase: .established, message: F.ack(1)),
    ]

    @Test("frames in the wrong order close the session with protocolViolation", arguments: violations)
    func wrongOrder(_ testCase: ViolationCase) {
        var machine = Machine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        _ = machine.connected(now: F.origin)
        if case .established = testCase.phase {
            _ = machine.messageReceived(.welcome(F.welcome(revision: 1)), now: F.origin)
        }
        let actions = machine.messageReceived(testCase.message, now: F.origin)
        #expect(sentTypes(actions) == [.goodbye])
        #expect(closeCode(actions) == .protocolViolation)
        #expect(machine.channelClosed() == [.reconnect(.afterBackoff(minimum: .zero))])
    }
}
