import Logging
import MeshRelayProtocol
import NIOCore

/// How one connection ended, for the connect loop of ``RelayAgent``.
struct ConnectionOutcome: Sendable {
    /// The state machine's advice.
    var advice: ReconnectAdvice
    /// WELCOME arrived on this connection (the reconnect backoff starts over).
    var wasEstablished: Bool
}

/// One connection attempt of the agent. Loop-bound: used only on the session's event loop.
final class AgentConnection: @unchecked Sendable {
    /// The server address, for logs.
    let address: RelayAddress
    /// Completed exactly once, with the machine's ``ReconnectAdvice`` for this connection.
    let outcome: EventLoopPromise<ConnectionOutcome>
    /// The session handler's context while the channel is open.
    var context: ChannelHandlerContext?
    /// ``AgentSessionStateMachine/channelClosed()`` was called for this connection.
    var ended = false
    /// WELCOME arrived.
    var established = false

    init(address: RelayAddress, outcome: EventLoopPromise<ConnectionOutcome>) {
        self.address = address
        self.outcome = outcome
    }
}

/// Drives the agent's ``AgentSessionStateMachine`` across its connections: feeds it the events of
/// the current connection (from ``AgentSessionHandler``), of apply completions and of its one
/// timer, and carries out the actions it returns. It decides nothing itself.
///
/// Loop-bound: every method must be called on ``eventLoop`` (every connection of the agent uses
/// that loop).
final class AgentSession: @unchecked Sendable {
    /// The event loop of the session and of all its connections.
    let eventLoop: any EventLoop
    private var machine: AgentSessionStateMachine
    private let maximumFramePayloadBytes: Int
    private var logger: Logger
    /// Applies an update to the data plane and the durable state, and returns one result per
    /// upsert. Runs off the event loop.
    private let apply: @Sendable (Update) async -> [ResourceResult]
    private var current: AgentConnection?
    private var timer: Scheduled<Void>?
    private var stopping = false
    /// Told when a session is established (true) and when an established one ends (false).
    private let onConnected: @Sendable (Bool) -> Void

    init(
        eventLoop: any EventLoop,
        machine: AgentSessionStateMachine,
        maximumFramePayloadBytes: Int,
        logger: Logger,
        apply: @escaping @Sendable (Update) async -> [ResourceResult],
        onConnected: @escaping @Sendable (Bool) -> Void = { _ in }
    ) {
        self.onConnected = onConnected
        self.eventLoop = eventLoop
        self.machine = machine
        self.maximumFramePayloadBytes = maximumFramePayloadBytes
        self.logger = logger
        self.apply = apply
    }

    // MARK: Events

    /// The channel of `connection` exists (its session handler was added).
    func attached(_ connection: AgentConnection, context: ChannelHandlerContext) {
        self.eventLoop.assertInEventLoop()
        connection.context = context
        self.current = connection
        if self.stopping {
            context.close(promise: nil)
        }
    }

    /// The TLS handshake of `connection` completed.
    func handshakeCompleted(_ connection: AgentConnection) {
        self.eventLoop.assertInEventLoop()
        guard connection === self.current, !connection.ended else {
            return
        }
        guard !self.stopping else {
            connection.context?.close(promise: nil)
            return
        }
        self.logger.debug("TLS session established", metadata: ["relay.server": "\(connection.address)"])
        self.run(self.machine.connected(now: .now), connection: connection)
    }

    /// A message arrived on `connection`.
    func messageReceived(_ message: RelayMessage, on connection: AgentConnection) {
        self.eventLoop.assertInEventLoop()
        guard connection === self.current, !connection.ended else {
            return
        }
        switch message {
        case .refuse(let refuse):
            self.logger.warning(
                "the relay server refused the session",
                metadata: [
                    "relay.server": "\(connection.address)",
                    "relay.code": "\(refuse.code)",
                    "relay.message": "\(refuse.message)",
                    "relay.retry_after_ms": "\(refuse.retryAfterMilliseconds)",
                ]
            )
        case .goodbye(let goodbye):
            self.logger.info(
                "the relay server said goodbye",
                metadata: [
                    "relay.server": "\(connection.address)", "relay.code": "\(goodbye.code)",
                    "relay.message": "\(goodbye.message)",
                ]
            )
        case .drain(let drain):
            self.logger.info(
                "the relay server is draining",
                metadata: ["relay.server": "\(connection.address)", "relay.message": "\(drain.message)"]
            )
        case .hello, .welcome, .update, .ack, .heartbeat:
            break
        }
        self.run(self.machine.messageReceived(message, now: .now), connection: connection)
    }

    /// A frame of `connection` failed to decode.
    func frameError(_ code: RelayErrorCode, message: String, on connection: AgentConnection) {
        self.eventLoop.assertInEventLoop()
        guard connection === self.current, !connection.ended else {
            return
        }
        self.logger.warning(
            "bad frame from the relay server",
            metadata: ["relay.server": "\(connection.address)", "relay.code": "\(code)", "relay.error": "\(message)"]
        )
        self.run(self.machine.frameError(code, message: message), connection: connection)
    }

    /// The TLS layer or the socket of `connection` failed (the handler closes the channel).
    func transportFailed(_ error: any Error, on connection: AgentConnection) {
        self.eventLoop.assertInEventLoop()
        self.logger.warning(
            "the connection to the relay server failed",
            metadata: ["relay.server": "\(connection.address)", "relay.error": "\(error)"]
        )
    }

    /// The channel of `connection` closed, or it never connected. Reported once per connection.
    func channelClosed(_ connection: AgentConnection) {
        self.eventLoop.assertInEventLoop()
        guard !connection.ended else {
            return
        }
        connection.ended = true
        connection.context = nil
        if connection.established { self.onConnected(false) }
        self.run(self.machine.channelClosed(), connection: connection)
        if self.current === connection {
            self.current = nil
        }
    }

    /// The agent stops: GOODBYE `normal` and close if connected; no reconnect.
    func shutdown() {
        self.eventLoop.assertInEventLoop()
        self.stopping = true
        guard let connection = self.current else {
            return
        }
        let actions = self.machine.shutdown()
        if actions.isEmpty {
            // Not connected at the protocol level yet (TCP or TLS handshake): just close.
            connection.context?.close(promise: nil)
        }
        self.run(actions, connection: connection)
    }

    /// The data plane's health changed: the machine tells the server (now if established,
    /// otherwise in the next HELLO).
    func dataPlaneChanged(_ health: DataPlaneHealth) {
        self.eventLoop.assertInEventLoop()
        let actions = self.machine.dataPlaneChanged(health)
        guard let connection = self.current, !connection.ended else {
            return
        }
        self.run(actions, connection: connection)
    }

    private func applyCompleted(revision: Int64, results: [ResourceResult]) {
        self.eventLoop.assertInEventLoop()
        let actions = self.machine.applyCompleted(revision: revision, results: results, now: .now)
        guard let connection = self.current, !connection.ended else {
            // The connection that brought the update is gone: `held` was updated, nothing to send.
            self.rearmTimer()
            return
        }
        self.run(actions, connection: connection)
    }

    private func timerFired() {
        self.eventLoop.assertInEventLoop()
        self.timer = nil
        let actions = self.machine.timerFired(now: .now)
        guard let connection = self.current else {
            self.rearmTimer()
            return
        }
        self.run(actions, connection: connection)
    }

    // MARK: Actions

    private func run(_ actions: [AgentSessionStateMachine.Action], connection: AgentConnection) {
        for action in actions {
            self.execute(action, connection: connection)
        }
        self.rearmTimer()
    }

    private func execute(_ action: AgentSessionStateMachine.Action, connection: AgentConnection) {
        switch action {
        case .send(let message):
            guard let context = connection.context else {
                return
            }
            do {
                let frame = try RelayMessageCoding.frame(
                    for: message,
                    maximumPayloadBytes: self.maximumFramePayloadBytes
                )
                context.writeAndFlush(NIOAny(frame), promise: nil)
            } catch {
                self.logger.error(
                    "cannot encode a message for the relay server; closing the connection",
                    metadata: ["relay.server": "\(connection.address)", "relay.error": "\(error)"]
                )
                context.close(promise: nil)
            }

        case .established(let welcome):
            connection.established = true
            self.onConnected(true)
            self.logger.info(
                "connected to the relay server",
                metadata: [
                    "relay.server": "\(connection.address)", "relay.server_id": "\(welcome.serverID)",
                    "relay.server_version": "\(welcome.serverVersion)", "relay.revision": "\(welcome.revision)",
                ]
            )

        case .apply(let update):
            let apply = self.apply
            let eventLoop = self.eventLoop
            self.logger.debug(
                "applying an update",
                metadata: [
                    "relay.revision": "\(update.revision)", "relay.snapshot": "\(update.isSnapshot)",
                    "relay.upserts": "\(update.upserts.count)", "relay.removals": "\(update.removals.count)",
                ]
            )
            Task {
                let results = await apply(update)
                eventLoop.execute {
                    self.applyCompleted(revision: update.revision, results: results)
                }
            }

        case .close(let code, let message):
            // An orderly close (drain, goodbye, shutdown) is routine; a silent server, a missing
            // WELCOME or a protocol violation is something an operator must see.
            let level: Logger.Level = [.normal, .draining].contains(code) ? .debug : .warning
            self.logger.log(
                level: level,
                "closing the connection",
                metadata: ["relay.server": "\(connection.address)", "relay.code": "\(code)", "relay.reason": "\(message)"]
            )
            connection.context?.close(promise: nil)

        case .reconnect(let advice):
            connection.outcome.succeed(ConnectionOutcome(advice: advice, wasEstablished: connection.established))
        }
    }

    private func rearmTimer() {
        self.timer?.cancel()
        self.timer = nil
        guard let deadline = self.machine.nextTimerDeadline else {
            return
        }
        let delay = ContinuousClock.now.duration(to: deadline)
        self.timer = self.eventLoop.scheduleTask(in: TimeAmount(max(delay, .zero))) {
            self.timerFired()
        }
    }
}
