import MeshRelayProtocol
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// One simulated agent: a real mutual-TLS connection speaking the relay protocol through the
/// agent's own ``AgentSessionStateMachine``, applying every UPDATE to memory at once (the machine's
/// `held`) and acknowledging every resource as applied. No state file: what it holds lives as long
/// as the process. It reconnects after a close as the machine advises, with a short capped backoff.
///
/// Loop-bound: every method except ``start()`` and ``shutdown()`` runs on ``eventLoop``.
final class SimulatedAgent: @unchecked Sendable {
    /// The agent's position in the fleet (its record in the recorder).
    let index: Int
    /// Its cluster identity.
    let cluster: String
    /// The loop of the agent and of all its connections.
    let eventLoop: any EventLoop

    private var machine: AgentSessionStateMachine
    private let sslContext: NIOSSLContext
    private let relayHost: String
    private let relayPort: Int
    private let recorder: FleetRecorder
    /// Identifies the current connection; events of older ones are ignored.
    private var connectionID = 0
    private var context: ChannelHandlerContext?
    private var connected = false
    private var timer: Scheduled<Void>?
    private var timerDeadline: ContinuousClock.Instant?
    private var reconnectTimer: Scheduled<Void>?
    private var failedAttempts = 0
    private var stopping = false

    init(
        index: Int,
        cluster: String,
        eventLoop: any EventLoop,
        sslContext: NIOSSLContext,
        relayHost: String,
        relayPort: Int,
        recorder: FleetRecorder
    ) {
        self.index = index
        self.cluster = cluster
        self.eventLoop = eventLoop
        self.sslContext = sslContext
        self.relayHost = relayHost
        self.relayPort = relayPort
        self.recorder = recorder
        self.machine = AgentSessionStateMachine(
            configuration: .init(cluster: cluster, agentVersion: "meshrelay-bench", outboundPolicy: "REGISTRY_ONLY"),
            held: [],
            appliedRevision: 0
        )
    }

    /// Starts connecting (from any thread).
    func start() {
        self.eventLoop.execute {
            self.connect()
        }
    }

    /// Says GOODBYE and closes, without reconnecting (from any thread). The future completes when
    /// no connection is left.
    func shutdown() -> EventLoopFuture<Void> {
        self.eventLoop.submit {
            self.stopping = true
            self.reconnectTimer?.cancel()
            self.reconnectTimer = nil
            guard let context = self.context else {
                return self.eventLoop.makeSucceededVoidFuture()
            }
            let actions = self.machine.shutdown()
            if actions.isEmpty {
                context.close(promise: nil)
            }
            self.run(actions)
            return context.channel.closeFuture
        }.flatMap { $0 }
    }

    // MARK: Connection events (from SimulatedAgentHandler)

    func attached(_ connection: Int, context: ChannelHandlerContext) {
        guard connection == self.connectionID else {
            context.close(promise: nil)
            return
        }
        self.context = context
        if self.stopping {
            context.close(promise: nil)
        }
    }

    func handshakeCompleted(_ connection: Int) {
        guard connection == self.connectionID, self.context != nil else {
            return
        }
        self.connected = true
        self.run(self.machine.connected(now: .now))
    }

    func received(_ message: RelayMessage, frameBytes: Int, on connection: Int) {
        guard connection == self.connectionID, self.connected else {
            return
        }
        self.recorder.update(self.index) { record in
            record.bytesReceived += frameBytes
            if case .update(let update) = message {
                record.updates += 1
                record.upsertsReceived += update.upserts.count
                record.removalsReceived += update.removals.count
            }
        }
        self.run(self.machine.messageReceived(message, now: .now))
    }

    func frameError(_ code: RelayErrorCode, message: String, on connection: Int) {
        guard connection == self.connectionID, self.connected else {
            return
        }
        self.run(self.machine.frameError(code, message: message))
    }

    /// The channel of `connection` closed, or connecting failed.
    func closed(_ connection: Int) {
        guard connection == self.connectionID else {
            return
        }
        // A later connection gets a new ID; this one reports nothing more.
        self.connectionID += 1
        self.context = nil
        self.connected = false
        self.recorder.update(self.index) { record in
            record.established = false
            record.disconnects += 1
        }
        self.run(self.machine.channelClosed())
    }

    // MARK: Actions

    private func run(_ actions: [AgentSessionStateMachine.Action]) {
        for action in actions {
            self.execute(action)
        }
        self.rearmTimer()
    }

    private func execute(_ action: AgentSessionStateMachine.Action) {
        switch action {
        case .send(let message):
            guard let context = self.context else {
                return
            }
            do {
                let frame = try RelayMessageCoding.frame(for: message)
                context.writeAndFlush(NIOAny(frame), promise: nil)
            } catch {
                context.close(promise: nil)
                return
            }
            if case .ack(let ack) = message {
                self.recorder.ackWritten(self.index, revision: ack.revision, at: .now)
            }

        case .established(let welcome):
            self.failedAttempts = 0
            self.recorder.update(self.index) { record in
                record.welcomes += 1
                record.serverID = welcome.serverID
                record.established = true
            }

        case .apply(let update):
            // Applied to memory at once: every upsert applied.
            let results = update.upserts.map { ResourceResult(key: $0.key, version: $0.version, state: .applied) }
            self.run(self.machine.applyCompleted(revision: update.revision, results: results, now: .now))

        case .close(let code, let message):
            self.recorder.update(self.index) { record in
                record.lastClose = "\(code): \(message)"
            }
            self.context?.close(promise: nil)

        case .reconnect(let advice):
            self.scheduleReconnect(advice)
        }
    }

    private func scheduleReconnect(_ advice: ReconnectAdvice) {
        guard !self.stopping else {
            return
        }
        let delay: Duration
        switch advice {
        case .stop:
            return
        case .nextAddressNow:
            delay = .milliseconds(Int64.random(in: 5...25))
        case .afterBackoff(let minimum):
            self.failedAttempts += 1
            delay = max(minimum, ReconnectDelay.afterFailure(attempt: self.failedAttempts, jitter: Double.random(in: 0.5...1)))
        }
        self.reconnectTimer?.cancel()
        self.reconnectTimer = self.eventLoop.scheduleTask(in: TimeAmount(delay)) {
            self.reconnectTimer = nil
            self.connect()
        }
    }

    private func connect() {
        guard !self.stopping else {
            return
        }
        self.connectionID += 1
        let connection = self.connectionID
        let sslContext = self.sslContext
        let serverName: String? = self.relayHost.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : self.relayHost
        connectBenchClient(on: self.eventLoop, host: self.relayHost, port: self.relayPort, sslContext: sslContext, serverHostname: serverName) { pipeline in
            try pipeline.addHandler(RelayFrameDecoder().makeHandler())
            try pipeline.addHandler(RelayFrameWriter())
            try pipeline.addHandler(SimulatedAgentHandler(agent: self, connection: connection))
        }.whenFailure { _ in
            self.closed(connection)
        }
    }

    /// Arms the timer for the machine's next deadline. A timer armed for an earlier instant stays
    /// (it fires early, which the machine ignores, and is armed again): most messages only move
    /// the liveness deadline later, and rescheduling per message was a tenth of the harness's CPU.
    private func rearmTimer() {
        guard let deadline = self.machine.nextTimerDeadline else {
            self.timer?.cancel()
            self.timer = nil
            self.timerDeadline = nil
            return
        }
        if let armed = self.timerDeadline, self.timer != nil, armed <= deadline {
            return
        }
        self.timer?.cancel()
        self.timerDeadline = deadline
        let delay = ContinuousClock.now.duration(to: deadline)
        self.timer = self.eventLoop.scheduleTask(in: TimeAmount(max(delay, .zero))) {
            self.timer = nil
            self.timerDeadline = nil
            self.run(self.machine.timerFired(now: .now))
        }
    }
}

/// The reconnect delay of a simulated agent after a failed or broken connection: 25 ms doubling
/// per failed attempt, capped at 250 ms (short, so that the harness measures the server and not
/// its own backoff), times a jitter factor.
enum ReconnectDelay {
    /// - Parameters:
    ///   - attempt: Failed attempts in a row, from 1.
    ///   - jitter: A factor in 0...1 (random in use).
    static func afterFailure(attempt: Int, jitter: Double) -> Duration {
        let exponent = min(max(attempt - 1, 0), 4)
        let base = min(25 * (1 << exponent), 250)
        let scaled = Double(base) * min(max(jitter, 0), 1)
        return .microseconds(Int64(scaled * 1000))
    }
}

/// The last handler of a simulated agent's connection: forwards the TLS handshake, decoded
/// messages, frame errors and the close to its ``SimulatedAgent``, and bounds the TCP + TLS
/// handshake to 10 s.
final class SimulatedAgentHandler: ChannelInboundHandler {
    typealias InboundIn = RelayFrame

    private let agent: SimulatedAgent
    private let connection: Int
    private var handshakeTimer: Scheduled<Void>?

    init(agent: SimulatedAgent, connection: Int) {
        self.agent = agent
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.agent.attached(self.connection, context: context)
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.handshakeTimer = context.eventLoop.scheduleTask(in: .seconds(10)) {
            loopBound.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            self.handshakeTimer?.cancel()
            self.handshakeTimer = nil
            self.agent.handshakeCompleted(self.connection)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        let bytes = frame.payload.readableBytes + RelayFrame.headerLength
        do {
            guard let message = try RelayMessageCoding.message(from: frame) else {
                return  // an unknown IGNORABLE frame
            }
            self.agent.received(message, frameBytes: bytes, on: self.connection)
        } catch {
            self.agent.frameError(error.relayErrorCode, message: error.description, on: self.connection)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RelayProtocolError {
            self.agent.frameError(error.relayErrorCode, message: error.description, on: self.connection)
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
        self.agent.closed(self.connection)
        context.fireChannelInactive()
    }
}
