import MeshRelayProtocol
import Testing

/// The agent's data-plane health in the protocol: HELLO carries it, a change is sent at once in
/// an extra HEARTBEAT, scheduled HEARTBEATs repeat it, and the server records only changes.
@Suite("Data-plane health")
struct DataPlaneHealthTests {
    typealias F = SessionFixtures
    static let live = DataPlaneHealth.healthy("Envoy LIVE")
    static let dead = DataPlaneHealth.unhealthy("Envoy's admin does not answer")

    @Test("before connecting: no message; the HELLO carries it")
    func helloCarriesHealth() {
        var machine = AgentSessionStateMachine(configuration: F.agentConfiguration, held: [], appliedRevision: 0)
        #expect(machine.dataPlaneChanged(Self.live) == [])
        var expected = F.hello()
        expected.dataPlane = Self.live
        #expect(machine.connected(now: F.origin) == [.send(.hello(expected))])
    }

    @Test("established: a change is one extra HEARTBEAT at once, the schedule stays; no change, nothing")
    func changeIsSentAtOnce() {
        var machine = F.agent()
        #expect(machine.dataPlaneChanged(Self.dead) == [.send(.heartbeat(Heartbeat(sequence: 1, dataPlane: Self.dead)))])
        #expect(machine.dataPlaneChanged(Self.dead) == [])
        #expect(machine.nextTimerDeadline == F.at(.seconds(10)))
        #expect(machine.timerFired(now: F.at(.seconds(10))) == [.send(.heartbeat(Heartbeat(sequence: 2, dataPlane: Self.dead)))])
        #expect(machine.dataPlaneChanged(Self.live) == [.send(.heartbeat(Heartbeat(sequence: 3, dataPlane: Self.live)))])
    }

    @Test("the server records the HELLO's health as the baseline and then only changes")
    func serverRecordsChanges() {
        var hello = F.hello()
        hello.dataPlane = Self.live
        var (machine, actions) = F.server(hello: hello, view: F.view(1))
        #expect(actions.first == .established(cluster: F.cluster, hello: hello, protocolVersion: 1))
        #expect(machine.messageReceived(.heartbeat(Heartbeat(sequence: 1, dataPlane: Self.live)), now: F.at(.seconds(1))) == [])
        #expect(machine.messageReceived(.heartbeat(Heartbeat(sequence: 2)), now: F.at(.seconds(2))) == [])
        #expect(
            machine.messageReceived(.heartbeat(Heartbeat(sequence: 3, dataPlane: Self.dead)), now: F.at(.seconds(3)))
                == [.recordDataPlane(Self.dead)]
        )
        #expect(machine.messageReceived(.heartbeat(Heartbeat(sequence: 4, dataPlane: Self.dead)), now: F.at(.seconds(4))) == [])
    }

    @Test("HELLO and HEARTBEAT round-trip with and without the field (an older peer sends none)")
    func codecRoundTrip() throws {
        var hello = F.hello()
        for health in [nil, Self.live, DataPlaneHealth.none] {
            hello.dataPlane = health
            #expect(try RelayMessageCoding.message(from: RelayMessageCoding.frame(for: .hello(hello))) == .hello(hello))
            let heartbeat = Heartbeat(sequence: 7, dataPlane: health)
            #expect(try RelayMessageCoding.message(from: RelayMessageCoding.frame(for: .heartbeat(heartbeat))) == .heartbeat(heartbeat))
        }
        // The frame of a HEARTBEAT without the field is the same bytes as before the field existed.
        let old = try RelayMessageCoding.frame(for: .heartbeat(Heartbeat(sequence: 7)))
        #expect(Array(old.payload.readableBytesView) == [0x08, 0x07])
    }
}
