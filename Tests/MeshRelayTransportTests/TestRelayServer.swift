import Foundation
import MeshRelayProtocol
import MeshRelayTransport
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// What a ``TestRelayServer`` saw and did, in order.
struct TestServerLog: Sendable {
    /// When each TLS session (with a verified client certificate) started.
    var connections: [ContinuousClock.Instant] = []
    var hellos: [Hello] = []
    /// Every UPDATE written, with the index of its connection.
    var updates: [(connection: Int, update: Update)] = []
    var acks: [(connection: Int, ack: Ack)] = []
    /// GOODBYEs received from agents.
    var goodbyes: [Goodbye] = []
    /// `synchronized(revision:)` actions, with the index of their connection.
    var synchronized: [(connection: Int, revision: Int64)] = []
    var closes: [RelayErrorCode] = []
}

/// A test-only relay server on 127.0.0.1: mutual TLS (`RelayTLS.serverConfiguration`), the relay
/// frame codec, and the real `ServerSessionStateMachine` per connection, answering every lookup
/// with `.registered(view)` of the view the test sets.
final class TestRelayServer: Sendable {
    let channel: any Channel
    let state: Mutex<TestServerLog>
    let view: Mutex<ClusterView>
    private let drainers: Mutex<[@Sendable () -> Void]>

    var port: Int { self.channel.localAddress?.port ?? 0 }
    var log: TestServerLog { self.state.withLock { $0 } }

    private init(channel: any Channel, view: ClusterView) {
        self.channel = channel
        self.state = Mutex(TestServerLog())
        self.view = Mutex(view)
        self.drainers = Mutex([])
    }

    static func start(
        certificates: String,
        view: ClusterView,
        serverID: String = "test-server",
        drainTimeout: Duration = .seconds(5)
    ) async throws -> TestRelayServer {
        let sslContext = try NIOSSLContext(configuration: RelayTLS.serverConfiguration(certificatesDirectory: certificates))
        let configuration = ServerSessionStateMachine.Configuration(
            serverVersion: "test", serverID: serverID, drainTimeout: drainTimeout
        )
        let box = ServerBox()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLServerHandler(context: sslContext))
                    try pipeline.addHandler(RelayFrameDecoder().makeHandler())
                    try pipeline.addHandler(MessageToByteHandler(RelayFrameEncoder()))
                    try pipeline.addHandler(TestServerSessionHandler(configuration: configuration, server: box))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = TestRelayServer(channel: channel, view: view)
        box.server.withLock { $0 = server }
        return server
    }

    func addDrainer(_ drainer: @escaping @Sendable () -> Void) {
        self.drainers.withLock { $0.append(drainer) }
    }

    /// Sends DRAIN on every session (then GOODBYE `draining` at the drain deadline).
    func drainAll() {
        for drainer in self.drainers.withLock({ $0 }) {
            drainer()
        }
    }

    func stop() async {
        try? await self.channel.close()
    }
}

/// Lets the child initializer reach the server created after the bind.
final class ServerBox: Sendable {
    let server = Mutex<TestRelayServer?>(nil)
}

/// Executes the actions of one `ServerSessionStateMachine`.
final class TestServerSessionHandler: ChannelInboundHandler {
    typealias InboundIn = RelayFrame
    typealias OutboundOut = RelayFrame

    private let configuration: ServerSessionStateMachine.Configuration
    private let box: ServerBox
    private var machine: ServerSessionStateMachine?
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var connectionIndex = -1

    init(configuration: ServerSessionStateMachine.Configuration, server: ServerBox) {
        self.configuration = configuration
        self.box = server
    }

    private var server: TestRelayServer? { self.box.server.withLock { $0 } }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        self.server?.addDrainer {
            eventLoop.execute { bound.value.drain() }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            do {
                guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                    context.close(promise: nil)
                    return
                }
                let identity = try ClusterIdentity.cluster(fromDER: certificate.toDERBytes())
                self.machine = ServerSessionStateMachine(configuration: self.configuration, identity: identity, now: .now)
                self.connectionIndex = self.server?.state.withLock { log in
                    log.connections.append(.now)
                    return log.connections.count - 1
                } ?? -1
                self.rearm()
            } catch {
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        do {
            guard let message = try RelayMessageCoding.message(from: frame) else { return }
            self.server?.state.withLock { log in
                switch message {
                case .hello(let hello): log.hellos.append(hello)
                case .goodbye(let goodbye): log.goodbyes.append(goodbye)
                default: break
                }
            }
            self.run { $0.messageReceived(message, now: .now) }
        } catch {
            self.run { $0.frameError(error.relayErrorCode, message: error.description) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RelayProtocolError {
            self.run { $0.frameError(error.relayErrorCode, message: error.description) }
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.run { $0.channelClosed() }
        self.timer?.cancel()
        self.timer = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func drain() {
        self.run { $0.drain(now: .now) }
    }

    private func run(_ event: (inout ServerSessionStateMachine) -> [ServerSessionStateMachine.Action]) {
        guard var machine = self.machine else { return }
        let actions = event(&machine)
        self.machine = machine
        for action in actions {
            self.execute(action)
        }
        self.rearm()
    }

    private func execute(_ action: ServerSessionStateMachine.Action) {
        let index = self.connectionIndex
        switch action {
        case .lookUpCluster:
            let view = self.server?.view.withLock { $0 } ?? ClusterView(revision: 0, resources: [:])
            self.run { $0.clusterLookedUp(.registered(view), now: .now) }
        case .established, .recordHeld, .recordDataPlane:
            break
        case .send(let message):
            if case .update(let update) = message {
                self.server?.state.withLock { $0.updates.append((index, update)) }
            }
            self.write(message)
        case .sendSnapshot(let view):
            self.server?.state.withLock { $0.updates.append((index, view.snapshotUpdate)) }
            self.write(.update(view.snapshotUpdate))
        case .recordAck(let revision, let results, _):
            self.server?.state.withLock { $0.acks.append((index, Ack(revision: revision, results: results))) }
        case .synchronized(let revision):
            self.server?.state.withLock { $0.synchronized.append((index, revision)) }
        case .close(let code, _):
            self.server?.state.withLock { $0.closes.append(code) }
            self.context?.close(promise: nil)
        case .disconnected:
            break
        }
    }

    private func write(_ message: RelayMessage) {
        guard let context = self.context, let frame = try? RelayMessageCoding.frame(for: message) else { return }
        context.writeAndFlush(self.wrapOutboundOut(frame), promise: nil)
    }

    private func rearm() {
        self.timer?.cancel()
        self.timer = nil
        guard let deadline = self.machine?.nextTimerDeadline, let context = self.context else { return }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: TimeAmount(max(ContinuousClock.now.duration(to: deadline), .zero))) {
            bound.value.run { $0.timerFired(now: .now) }
        }
    }
}
