/// The agent side of the relay protocol, for the agent's whole life: one connection at a time,
/// each going through HELLO, WELCOME, updates applied one at a time and acknowledged per
/// resource, heartbeats, and a close that says how to reconnect (docs/protocol.md, "Session state
/// machines").
///
/// The machine does no IO and reads no clock: the connector feeds it events with the current
/// instant and carries out the returned ``Action``s in order, re-arming one timer for
/// ``nextTimerDeadline`` after every event.
///
/// What the agent holds (``held``, ``appliedRevision``) belongs to the machine, not to a
/// connection: a disconnect never removes anything, the next HELLO lists it so the server sends
/// only the difference, and the connector persists it (see ``hello``) to build the HELLO after a
/// restart.
public struct AgentSessionStateMachine: Sendable {
    /// Fixed parameters of the agent.
    public struct Configuration: Sendable, Hashable {
        /// The cluster this agent believes it serves (the server checks it against the
        /// certificate).
        public var cluster: String
        /// The agent's software version (sent in HELLO).
        public var agentVersion: String
        /// The protocol versions the agent speaks, `[1]` by default.
        public var supportedVersions: [UInt32]
        /// `REGISTRY_ONLY` or `ALLOW_ANY` (sent in HELLO).
        public var outboundPolicy: String
        /// The agent gives up on a server that has not sent WELCOME this long after the
        /// connection was established.
        public var helloTimeout: Duration

        /// - Parameters:
        ///   - cluster: The cluster the agent serves.
        ///   - agentVersion: The agent's software version.
        ///   - supportedVersions: Protocol versions spoken, `[1]` by default.
        ///   - outboundPolicy: `REGISTRY_ONLY` or `ALLOW_ANY`.
        ///   - helloTimeout: How long to wait for WELCOME (default 10 s).
        public init(
            cluster: String,
            agentVersion: String,
            supportedVersions: [UInt32] = [1],
            outboundPolicy: String,
            helloTimeout: Duration = .seconds(10)
        ) {
            self.cluster = cluster
            self.agentVersion = agentVersion
            self.supportedVersions = supportedVersions
            self.outboundPolicy = outboundPolicy
            self.helloTimeout = helloTimeout
        }
    }

    /// What the connector must do, in the order returned.
    public enum Action: Sendable, Hashable {
        /// Write this message.
        case send(RelayMessage)
        /// WELCOME arrived: the session is up (reset the reconnect backoff, log the server).
        case established(Welcome)
        /// Apply this update to the data plane, then call
        /// ``AgentSessionStateMachine/applyCompleted(revision:results:now:)`` with one result per
        /// upsert. A snapshot replaces the whole set; a delta upserts and removes on top of it.
        case apply(Update)
        /// Close the channel once the messages sent before are written. `code` and `message` say
        /// why, for logs; a GOODBYE owed to the server was sent by a preceding ``send(_:)``.
        case close(code: RelayErrorCode, message: String)
        /// The connection is over (answer to ``AgentSessionStateMachine/channelClosed()``):
        /// reconnect as advised.
        case reconnect(ReconnectAdvice)
    }

    private enum State: Sendable {
        /// No connection.
        case idle
        /// Connected while an update of the previous connection is still being applied: HELLO
        /// waits for it, so that it lists what the agent really holds.
        case awaitingApplyBeforeHello(deadline: ContinuousClock.Instant)
        /// HELLO sent; waiting for WELCOME until `deadline`.
        case awaitingWelcome(deadline: ContinuousClock.Instant)
        /// WELCOME received.
        case established(welcome: Welcome, liveness: SessionLiveness)
        /// The machine asked for the channel to close; waiting for ``channelClosed()``.
        case closing
    }

    /// The agent's parameters.
    public let configuration: Configuration

    private var state: State = .idle {
        didSet { nextTimerDeadline = Self.deadline(of: state) }
    }
    /// The update being applied, if any. It outlives its connection: the data plane changes
    /// whether or not the connection is still there, and `held` must follow it.
    private var applying: Update?
    /// How to reconnect once the channel is closed, decided when the machine chose to close.
    private var reconnectAdvice: ReconnectAdvice = .afterBackoff(minimum: .zero)

    /// The version of every resource the agent holds (applied, or applied with a warning). A
    /// rejected version leaves the previous one, if any, in place.
    public private(set) var held: [RelayResourceKey: Int64]
    /// The warning reported for a held version that was applied with one (absent: applied cleanly).
    public private(set) var warnings: [RelayResourceKey: String]
    /// The revision of the last update applied (0: never synchronised).
    public private(set) var appliedRevision: Int64
    /// The data plane's health, sent in HELLO and in every HEARTBEAT (nil: not reported).
    public private(set) var dataPlane: DataPlaneHealth?

    /// Creates the machine, typically with what the agent persisted before a restart.
    ///
    /// - Parameters:
    ///   - configuration: The agent's parameters.
    ///   - held: The resources the agent holds, with their versions (a key listed twice keeps its
    ///     last version).
    ///   - appliedRevision: The revision of the last update applied (0 if none).
    public init(configuration: Configuration, held: [HeldResource], appliedRevision: Int64) {
        self.configuration = configuration
        var versions: [RelayResourceKey: Int64] = [:]
        var warnings: [RelayResourceKey: String] = [:]
        for resource in held {
            versions[resource.key] = resource.version
            warnings[resource.key] = resource.warning.isEmpty ? nil : resource.warning
        }
        self.held = versions
        self.warnings = warnings
        self.appliedRevision = appliedRevision
    }

    /// The held resources sorted by key, with their warnings (what HELLO lists and what the
    /// connector persists).
    public var heldResources: [HeldResource] {
        self.held.map { HeldResource(key: $0.key, version: $0.value, warning: self.warnings[$0.key] ?? "") }
            .sorted { $0.key < $1.key }
    }

    /// The HELLO the agent sends on its next connection.
    public var hello: Hello {
        Hello(
            protocolVersions: self.configuration.supportedVersions,
            cluster: self.configuration.cluster,
            agentVersion: self.configuration.agentVersion,
            appliedRevision: self.appliedRevision,
            held: self.heldResources,
            outboundPolicy: self.configuration.outboundPolicy,
            dataPlane: self.dataPlane
        )
    }

    /// The data plane's health changed (the agent watches it). Established, the machine tells the
    /// server at once with an extra HEARTBEAT (the heartbeat schedule is unchanged); otherwise the
    /// next HELLO carries it.
    ///
    /// - Returns: The HEARTBEAT to send, or nothing.
    public mutating func dataPlaneChanged(_ health: DataPlaneHealth) -> [Action] {
        guard health != self.dataPlane else {
            return []
        }
        self.dataPlane = health
        guard case .established(let welcome, var liveness) = self.state else {
            return []
        }
        let sequence = liveness.nextSequence()
        self.state = .established(welcome: welcome, liveness: liveness)
        return [.send(.heartbeat(Heartbeat(sequence: sequence, dataPlane: health)))]
    }

    /// `true` while an ``Action/apply(_:)`` has not been completed.
    public var isApplying: Bool {
        self.applying != nil
    }

    /// `true` from WELCOME until the machine closes or the channel closes.
    public var isEstablished: Bool {
        switch self.state {
        case .established: true
        case .idle, .awaitingApplyBeforeHello, .awaitingWelcome, .closing: false
        }
    }

    /// When the connector must call ``timerFired(now:)`` next (`nil`: no timer needed).
    ///
    /// Stored (kept by `state`'s observer): a computed property read after every event copied
    /// the state, WELCOME and all.
    public private(set) var nextTimerDeadline: ContinuousClock.Instant?

    private static func deadline(of state: State) -> ContinuousClock.Instant? {
        switch state {
        case .awaitingApplyBeforeHello(let deadline), .awaitingWelcome(let deadline):
            deadline
        case .established(_, let liveness):
            liveness.nextEvent
        case .idle, .closing:
            nil
        }
    }

    // MARK: Events

    /// A connection (TLS handshake done) to a server is up: send HELLO. The WELCOME deadline
    /// runs from here. If an update of the previous connection is still being applied, HELLO is
    /// sent when it completes.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: HELLO, or nothing while an apply completes (or if already connected).
    public mutating func connected(now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .idle:
            self.reconnectAdvice = .afterBackoff(minimum: .zero)
            let deadline = now + self.configuration.helloTimeout
            if self.applying != nil {
                self.state = .awaitingApplyBeforeHello(deadline: deadline)
                return []
            }
            self.state = .awaitingWelcome(deadline: deadline)
            return [.send(.hello(self.hello))]
        case .awaitingApplyBeforeHello, .awaitingWelcome, .established, .closing:
            return []
        }
    }

    /// A frame arrived from the server (any frame counts as a sign of life).
    ///
    /// - Parameters:
    ///   - message: The decoded message.
    ///   - now: The current instant.
    /// - Returns: The actions to carry out.
    public mutating func messageReceived(_ message: RelayMessage, now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .idle, .closing:
            return []

        case .awaitingApplyBeforeHello:
            switch message {
            case .goodbye(let goodbye):
                return self.peerSaidGoodbye(goodbye)
            case .drain(let drain):
                return self.drainReceived(drain)
            case .hello, .welcome, .refuse, .update, .ack, .heartbeat:
                return self.closeForViolation("\(message.frameType) before HELLO")
            }

        case .awaitingWelcome:
            switch message {
            case .welcome(let welcome):
                return self.welcomeReceived(welcome, now: now)
            case .refuse(let refuse):
                self.reconnectAdvice = .afterBackoff(minimum: .milliseconds(Int64(refuse.retryAfterMilliseconds)))
                self.state = .closing
                return [.close(code: refuse.code, message: "the server refused the session: \(refuse.message)")]
            case .goodbye(let goodbye):
                return self.peerSaidGoodbye(goodbye)
            case .drain(let drain):
                return self.drainReceived(drain)
            case .hello, .update, .ack, .heartbeat:
                return self.closeForViolation("\(message.frameType) before WELCOME")
            }

        case .established(let welcome, var liveness):
            liveness.frameReceived(now: now)
            self.state = .established(welcome: welcome, liveness: liveness)
            switch message {
            case .heartbeat:
                return []
            case .update(let update):
                if let applying = self.applying {
                    return self.closeForViolation(
                        "UPDATE \(update.revision) while UPDATE \(applying.revision) is not acknowledged yet"
                    )
                }
                self.applying = update
                return [.apply(update)]
            case .drain(let drain):
                return self.drainReceived(drain)
            case .goodbye(let goodbye):
                return self.peerSaidGoodbye(goodbye)
            case .welcome:
                return self.closeForViolation("a second WELCOME")
            case .refuse:
                return self.closeForViolation("REFUSE after WELCOME")
            case .hello, .ack:
                return self.closeForViolation("\(message.frameType) is sent by agents, not servers")
            }
        }
    }

    /// The data plane finished applying the update of `revision` (even if its connection is
    /// gone). Updates ``held``: an applied or warning result holds the resource at its new
    /// version, a failed one (or a missing result) keeps the previous version; removals are
    /// dropped; a snapshot also drops every key it does not list. Results that do not match an
    /// upsert of the update are left out of the ACK.
    ///
    /// - Parameters:
    ///   - revision: The revision of the applied update.
    ///   - results: One result per upserted resource.
    ///   - now: The current instant.
    /// - Returns: The ACK (if the connection that brought the update is still up), HELLO (if a
    ///   new connection waited for this apply), or nothing.
    public mutating func applyCompleted(
        revision: Int64,
        results: [ResourceResult],
        now: ContinuousClock.Instant
    ) -> [Action] {
        guard let update = self.applying, update.revision == revision else {
            return []
        }
        self.applying = nil
        let accepted = self.record(update, results: results)

        switch self.state {
        case .established:
            return [.send(.ack(Ack(revision: revision, results: accepted)))]
        case .awaitingApplyBeforeHello(let deadline):
            self.state = .awaitingWelcome(deadline: deadline)
            return [.send(.hello(self.hello))]
        case .idle, .awaitingWelcome, .closing:
            return []
        }
    }

    /// The timer armed for ``nextTimerDeadline`` fired.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: A heartbeat, or GOODBYE and close when a deadline passed.
    public mutating func timerFired(now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .awaitingApplyBeforeHello(let deadline), .awaitingWelcome(let deadline):
            guard now >= deadline else {
                return []
            }
            return self.goodbyeAndClose(
                .handshakeTimeout,
                "no WELCOME within \(self.configuration.helloTimeout) of connecting",
                reconnect: .afterBackoff(minimum: .zero)
            )
        case .established(let welcome, var liveness):
            if liveness.isPeerDead(now: now) {
                return self.goodbyeAndClose(
                    .heartbeatTimeout,
                    "no frame from the server for \(SessionLiveness.silentIntervalsBeforeDead) heartbeat intervals "
                        + "(\(liveness.interval * SessionLiveness.silentIntervalsBeforeDead))",
                    reconnect: .afterBackoff(minimum: .zero)
                )
            }
            let heartbeat = liveness.heartbeatIfDue(now: now)
            self.state = .established(welcome: welcome, liveness: liveness)
            let dataPlane = self.dataPlane
            return heartbeat.map { [.send(.heartbeat(Heartbeat(sequence: $0.sequence, dataPlane: dataPlane)))] } ?? []
        case .idle, .closing:
            return []
        }
    }

    /// The decoder failed: say GOODBYE with that code and close; reconnect after backoff.
    ///
    /// - Parameters:
    ///   - code: `malformedFrame`, `unsupportedMessage`, …
    ///   - message: What was wrong, for the server's log.
    /// - Returns: GOODBYE and close.
    public mutating func frameError(_ code: RelayErrorCode, message: String) -> [Action] {
        switch self.state {
        case .awaitingApplyBeforeHello, .awaitingWelcome, .established:
            return self.goodbyeAndClose(code, message, reconnect: .afterBackoff(minimum: .zero))
        case .idle, .closing:
            return []
        }
    }

    /// The agent is shutting down: say GOODBYE (`normal`) and close; do not reconnect.
    ///
    /// - Returns: GOODBYE and close, or nothing when not connected.
    public mutating func shutdown() -> [Action] {
        switch self.state {
        case .awaitingApplyBeforeHello, .awaitingWelcome, .established:
            return self.goodbyeAndClose(.normal, "the agent is shutting down", reconnect: .stop)
        case .closing:
            self.reconnectAdvice = .stop
            return []
        case .idle:
            return []
        }
    }

    /// The channel closed, or the connection attempt failed. Nothing the agent holds is dropped.
    ///
    /// - Returns: Exactly one ``Action/reconnect(_:)``: as decided when the machine closed, or
    ///   after backoff when the connection failed or broke.
    public mutating func channelClosed() -> [Action] {
        let advice: ReconnectAdvice
        switch self.state {
        case .closing:
            advice = self.reconnectAdvice
        case .idle, .awaitingApplyBeforeHello, .awaitingWelcome, .established:
            advice = .afterBackoff(minimum: .zero)
        }
        self.state = .idle
        self.reconnectAdvice = .afterBackoff(minimum: .zero)
        return [.reconnect(advice)]
    }

    // MARK: Helpers

    private mutating func welcomeReceived(_ welcome: Welcome, now: ContinuousClock.Instant) -> [Action] {
        guard self.configuration.supportedVersions.contains(welcome.protocolVersion) else {
            return self.closeForViolation(
                "WELCOME picks protocol version \(welcome.protocolVersion), which this agent did not offer "
                    + "(\(self.configuration.supportedVersions))"
            )
        }
        guard welcome.cluster == self.configuration.cluster else {
            return self.closeForViolation(
                "WELCOME is for cluster \"\(welcome.cluster)\", this agent serves \"\(self.configuration.cluster)\""
            )
        }
        guard welcome.heartbeatIntervalMilliseconds > 0 else {
            return self.closeForViolation("WELCOME announces a heartbeat interval of 0")
        }
        let interval = Duration.milliseconds(Int64(welcome.heartbeatIntervalMilliseconds))
        self.state = .established(welcome: welcome, liveness: SessionLiveness(interval: interval, now: now))
        return [.established(welcome)]
    }

    private mutating func drainReceived(_ drain: Drain) -> [Action] {
        self.close(
            .draining,
            "the server is draining: \(drain.message)",
            farewell: .goodbye(Goodbye(code: .normal, message: "leaving a draining server")),
            reconnect: .nextAddressNow
        )
    }

    private mutating func peerSaidGoodbye(_ goodbye: Goodbye) -> [Action] {
        let advice: ReconnectAdvice = goodbye.code == .draining ? .nextAddressNow : .afterBackoff(minimum: .zero)
        return self.close(goodbye.code, "the server said goodbye: \(goodbye.message)", farewell: nil, reconnect: advice)
    }

    private mutating func closeForViolation(_ message: String) -> [Action] {
        self.goodbyeAndClose(.protocolViolation, message, reconnect: .afterBackoff(minimum: .zero))
    }

    private mutating func goodbyeAndClose(
        _ code: RelayErrorCode,
        _ message: String,
        reconnect: ReconnectAdvice
    ) -> [Action] {
        self.close(code, message, farewell: .goodbye(Goodbye(code: code, message: message)), reconnect: reconnect)
    }

    private mutating func close(
        _ code: RelayErrorCode,
        _ message: String,
        farewell: RelayMessage?,
        reconnect: ReconnectAdvice
    ) -> [Action] {
        self.state = .closing
        self.reconnectAdvice = reconnect
        var actions: [Action] = []
        if let farewell {
            actions.append(.send(farewell))
        }
        actions.append(.close(code: code, message: message))
        return actions
    }

    /// Applies the outcome of `update` to `held` and returns the results that belong in its ACK.
    private mutating func record(_ update: Update, results: [ResourceResult]) -> [ResourceResult] {
        let accepted: [ResourceResult]
        if Self.answersInOrder(results, update) {
            // The usual case (one result per upsert, in its order, naming its version): no
            // lookup table — a 10,000-resource snapshot spent a quarter of its handling there.
            accepted = results
        } else {
            var upserted: [RelayResourceKey: Int64] = [:]
            upserted.reserveCapacity(update.upserts.count)
            for resource in update.upserts {
                upserted[resource.key] = resource.version
            }
            var answered = Set<RelayResourceKey>()
            accepted = results.filter { result in
                upserted[result.key] == result.version && answered.insert(result.key).inserted
            }
        }

        if update.isSnapshot {
            // The set becomes exactly the snapshot's; a key whose new version fails keeps its
            // previous version.
            var kept: [RelayResourceKey: Int64] = [:]
            if !self.held.isEmpty {
                for resource in update.upserts {
                    if let version = self.held[resource.key] {
                        kept[resource.key] = version
                    }
                }
            }
            kept.reserveCapacity(update.upserts.count)
            self.held = kept
            self.warnings = self.warnings.filter { kept[$0.key] != nil }
        }
        for key in update.removals {
            self.held[key] = nil
            self.warnings[key] = nil
        }
        for result in accepted {
            switch result.state {
            case .applied:
                self.held[result.key] = result.version
                self.warnings[result.key] = nil
            case .warning:
                self.held[result.key] = result.version
                self.warnings[result.key] = result.message
            case .failed:
                break
            }
        }
        self.appliedRevision = update.revision
        return accepted
    }

    /// Whether `results` has one result per upsert of `update`, in the same order, with its
    /// version, and no key twice (checked by sorting only when the keys are not already in
    /// ascending order, as the server sends them).
    private static func answersInOrder(_ results: [ResourceResult], _ update: Update) -> Bool {
        guard results.count == update.upserts.count else { return false }
        var previous: RelayResourceKey?
        var ascending = true
        for (result, resource) in zip(results, update.upserts) {
            guard result.key == resource.key, result.version == resource.version else { return false }
            if let previous, !(previous < result.key) { ascending = false }
            previous = result.key
        }
        return ascending || Set(results.map(\.key)).count == results.count
    }
}
