/// The server side of one relay session: the handshake, the synchronisation of one cluster's
/// resources (snapshot, then deltas, per-resource ACK/NACK, latest-wins coalescing), heartbeats,
/// deadlines and drain (docs/protocol.md, "Session state machines").
///
/// The machine does no IO and reads no clock: the handler feeds it events (frames, view changes,
/// writability, timer ticks) with the current instant and carries out the ``Action``s each event
/// returns, in order. After every event the handler (re)arms one timer for
/// ``nextTimerDeadline`` and calls ``timerFired(now:)`` when it fires; firing early or late is
/// harmless.
///
/// Memory per session is bounded: the versions the agent has been sent (or held at HELLO), one
/// reference to the latest desired ``ClusterView`` (shared with every other session of the
/// cluster), and the revision of the one UPDATE in flight. Views that arrive while an UPDATE is
/// in flight or while the channel is not writable replace the pending one; they never queue.
public struct ServerSessionStateMachine: Sendable {
    /// Fixed parameters of every session of one server.
    public struct Configuration: Sendable, Hashable {
        /// The protocol versions this server speaks; the session uses the highest one in common
        /// with the agent's HELLO.
        public var supportedVersions: [UInt32]
        /// This server's software version (sent in WELCOME).
        public var serverVersion: String
        /// This server replica's identifier (sent in WELCOME, for logs and status).
        public var serverID: String
        /// Both sides send a heartbeat this often (sent in WELCOME, in milliseconds); a peer silent
        /// for 3 intervals is dead.
        public var heartbeatInterval: Duration
        /// A connection that has not completed its handshake this long after it was accepted is
        /// closed (`handshakeTimeout`).
        public var handshakeTimeout: Duration
        /// After DRAIN the server closes the connection at the latest this much later.
        public var drainTimeout: Duration
        /// The `retryAfterMilliseconds` of a REFUSE for a cause the agent cannot fix by retrying
        /// at once (unknown cluster, identity mismatch, unsupported version).
        public var refusalRetryAfter: Duration

        /// - Parameters:
        ///   - supportedVersions: Protocol versions spoken, `[1]` by default.
        ///   - serverVersion: The server's software version.
        ///   - serverID: This replica's identifier.
        ///   - heartbeatInterval: The heartbeat interval announced in WELCOME (default 10 s).
        ///   - handshakeTimeout: The handshake deadline (default 10 s).
        ///   - drainTimeout: How long a drained connection may stay open (default 5 s).
        ///   - refusalRetryAfter: The retry delay suggested in a REFUSE (default 30 s).
        public init(
            supportedVersions: [UInt32] = [1],
            serverVersion: String,
            serverID: String,
            heartbeatInterval: Duration = .seconds(10),
            handshakeTimeout: Duration = .seconds(10),
            drainTimeout: Duration = .seconds(5),
            refusalRetryAfter: Duration = .seconds(30)
        ) {
            self.supportedVersions = supportedVersions
            self.serverVersion = serverVersion
            self.serverID = serverID
            self.heartbeatInterval = heartbeatInterval
            self.handshakeTimeout = handshakeTimeout
            self.drainTimeout = drainTimeout
            self.refusalRetryAfter = refusalRetryAfter
        }
    }

    /// The answer to ``Action/lookUpCluster(_:)``, passed to ``clusterLookedUp(_:now:)``.
    public enum ClusterLookup: Sendable, Hashable {
        /// The cluster is registered; this is its current desired view.
        case registered(ClusterView)
        /// No `KubernetesCluster` registration has that name.
        case unregistered
        /// The lookup failed (e.g. the store); the message is sent to the agent.
        case failed(String)
    }

    /// What the handler must do, in the order returned.
    public enum Action: Sendable, Hashable {
        /// The HELLO passed the protocol checks: find out whether the cluster (the certificate's
        /// identity) is registered and what its current view is, then call
        /// ``ServerSessionStateMachine/clusterLookedUp(_:now:)``.
        case lookUpCluster(String)
        /// The session is established (WELCOME follows): record the connected agent from its
        /// HELLO (version, applied revision, outbound policy). Paired with exactly one
        /// ``disconnected(cluster:)`` when the channel closes.
        case established(cluster: String, hello: Hello, protocolVersion: UInt32)
        /// Write this message.
        case send(RelayMessage)
        /// Write the whole view as a snapshot UPDATE (``ClusterView/snapshotUpdate``). Every
        /// session sending the same cluster view at the same revision sends the same bytes, so the
        /// transport may encode it once and share the buffer.
        case sendSnapshot(ClusterView)
        /// The agent acknowledged the UPDATE of `revision`: record one status per result
        /// (applied, failed or warning, with the message) for this session's cluster.
        /// `generations[i]` is the generation of the version `results[i]` reports, as it was sent.
        case recordAck(revision: Int64, results: [ResourceResult], generations: [Int64])
        /// The agent's HELLO says it holds these resources at their desired versions (applied, or
        /// applied with a warning): record one status per result, as for an ACK, so a status
        /// write lost with a previous server is recovered without resending anything. Emitted
        /// once, right after ``established(cluster:hello:protocolVersion:)``.
        case recordHeld(revision: Int64, results: [ResourceResult])
        /// Nothing is left to send: the agent holds the desired view of `revision` (apart from
        /// versions it rejected), so the server may record `revision` as the cluster's applied
        /// revision.
        case synchronized(revision: Int64)
        /// A HEARTBEAT reported the agent's data-plane health, different from what it reported
        /// before (in HELLO or an earlier HEARTBEAT): record it for this session's cluster.
        case recordDataPlane(DataPlaneHealth)
        /// Close the channel once the messages sent before are written. `code` and `message` say
        /// why, for logs and metrics; any GOODBYE or REFUSE owed to the agent was sent by a
        /// preceding ``send(_:)``.
        case close(code: RelayErrorCode, message: String)
        /// The channel of an established session closed: record the cluster as disconnected.
        case disconnected(cluster: String)
    }

    private enum State: Sendable {
        /// Accepted; waiting for HELLO until `deadline`.
        case awaitingHello(deadline: ContinuousClock.Instant)
        /// HELLO passed the checks that need no lookup; waiting for ``clusterLookedUp(_:now:)``.
        case lookingUp(hello: Hello, protocolVersion: UInt32, deadline: ContinuousClock.Instant)
        /// WELCOME sent. `drainDeadline` is set once DRAIN was sent.
        case established(liveness: SessionLiveness, drainDeadline: ContinuousClock.Instant?)
        /// The machine asked for the channel to close; waiting for ``channelClosed()``.
        case closing(wasEstablished: Bool)
        /// The channel is closed; every event is ignored.
        case closed
    }

    /// The cluster this session serves: the identity of the verified client certificate.
    public let identity: String
    /// The parameters this session was created with.
    public let configuration: Configuration

    private var state: State {
        didSet { nextTimerDeadline = Self.deadline(of: state) }
    }
    private var isWritable = true
    /// The data-plane health the agent last reported (HELLO, then HEARTBEATs).
    private var dataPlane: DataPlaneHealth?

    /// The latest desired view. Set by the lookup or by ``viewChanged(_:)`` (which may arrive
    /// during the lookup); only the newest revision is kept.
    private var desired: ClusterView?
    /// `desired` changed since the last difference was computed.
    private var hasUnsentView = false
    /// The agent holds nothing and never synchronised (HELLO with no resources at revision 0): its
    /// first update is a snapshot even when the view is empty, so the agent learns it is in sync.
    private var firstSyncPending = false

    /// The version of every resource the agent holds or has already been sent: its HELLO's held
    /// versions, updated when an UPDATE is sent (a rejected version stays here, so it is not sent
    /// again until the resource changes).
    public private(set) var knownVersions: [RelayResourceKey: Int64] = [:]
    /// The view `knownVersions` equals exactly (after a snapshot or a difference was sent), if
    /// any: the next difference is computed from it by version (``ClusterView/difference(from:)-(ClusterView)``),
    /// and an ACK's results are checked against it. Always set while an UPDATE is in flight.
    private var knownView: ClusterView?
    /// The revision of the UPDATE sent and not yet acknowledged, if any (at most one).
    public private(set) var inFlightRevision: Int64?

    /// Creates the machine for a connection whose client certificate was verified.
    ///
    /// - Parameters:
    ///   - configuration: The server's session parameters.
    ///   - identity: The cluster named by the verified client certificate. Never taken from HELLO.
    ///   - now: When the connection was accepted; the handshake deadline runs from here.
    public init(configuration: Configuration, identity: String, now: ContinuousClock.Instant) {
        self.configuration = configuration
        self.identity = identity
        self.state = .awaitingHello(deadline: now + configuration.handshakeTimeout)
        self.nextTimerDeadline = now + configuration.handshakeTimeout
    }

    /// When the handler must call ``timerFired(now:)`` next (`nil`: no timer needed).
    ///
    /// Stored (kept by `state`'s observer) rather than computed: the handler reads it after every
    /// event, and a computed property of a machine held in a class is read from a copy of the
    /// whole machine (with the handler's other copies, ~3 % of the server's CPU in a fan-out).
    public private(set) var nextTimerDeadline: ContinuousClock.Instant?

    private static func deadline(of state: State) -> ContinuousClock.Instant? {
        switch state {
        case .awaitingHello(let deadline), .lookingUp(_, _, let deadline):
            deadline
        case .established(let liveness, let drainDeadline):
            drainDeadline.map { min($0, liveness.nextEvent) } ?? liveness.nextEvent
        case .closing, .closed:
            nil
        }
    }

    /// `true` from WELCOME until the machine closes or the channel closes.
    public var isEstablished: Bool {
        switch self.state {
        case .established: true
        case .awaitingHello, .lookingUp, .closing, .closed: false
        }
    }

    // MARK: Events

    /// A frame arrived from the agent (any frame counts as a sign of life).
    ///
    /// - Parameters:
    ///   - message: The decoded message.
    ///   - now: The current instant.
    /// - Returns: The actions to carry out.
    public mutating func messageReceived(_ message: RelayMessage, now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .awaitingHello:
            switch message {
            case .hello(let hello):
                return self.helloReceived(hello)
            case .goodbye(let goodbye):
                return self.peerSaidGoodbye(goodbye)
            case .welcome, .refuse, .update, .ack, .heartbeat, .drain:
                return self.closeForViolation("\(message.frameType) before HELLO")
            }

        case .lookingUp:
            switch message {
            case .goodbye(let goodbye):
                return self.peerSaidGoodbye(goodbye)
            case .hello:
                return self.closeForViolation("a second HELLO")
            case .welcome, .refuse, .update, .ack, .heartbeat, .drain:
                return self.closeForViolation("\(message.frameType) before WELCOME")
            }

        case .established(var liveness, let drainDeadline):
            liveness.frameReceived(now: now)
            self.state = .established(liveness: liveness, drainDeadline: drainDeadline)
            switch message {
            case .heartbeat(let heartbeat):
                guard let health = heartbeat.dataPlane, health != self.dataPlane else {
                    return []
                }
                self.dataPlane = health
                return [.recordDataPlane(health)]
            case .ack(let ack):
                return self.ackReceived(ack)
            case .goodbye(let goodbye):
                return self.peerSaidGoodbye(goodbye)
            case .hello:
                return self.closeForViolation("a second HELLO")
            case .welcome, .refuse, .update, .drain:
                return self.closeForViolation("\(message.frameType) is sent by servers, not agents")
            }

        case .closing, .closed:
            return []
        }
    }

    /// The answer to ``Action/lookUpCluster(_:)``.
    ///
    /// - Parameters:
    ///   - lookup: Whether the cluster is registered, with its current view.
    ///   - now: The current instant (heartbeats and silence detection start here).
    /// - Returns: REFUSE and close, or `established`, WELCOME and the first update if any.
    public mutating func clusterLookedUp(_ lookup: ClusterLookup, now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .lookingUp(let hello, let protocolVersion, _):
            switch lookup {
            case .unregistered:
                return self.refuse(
                    .unknownCluster,
                    "cluster \"\(self.identity)\" is not registered on this server: apply a KubernetesCluster named "
                        + "\"\(self.identity)\"; the agent keeps retrying and connects once it exists",
                    retryAfter: self.configuration.refusalRetryAfter
                )
            case .failed(let reason):
                return self.refuse(
                    .internalError,
                    "the server could not look up cluster \"\(self.identity)\": \(reason)",
                    retryAfter: .zero
                )
            case .registered(let view):
                return self.establish(hello: hello, protocolVersion: protocolVersion, view: view, now: now)
            }
        case .awaitingHello, .established, .closing, .closed:
            // A late answer (the handshake deadline passed, or the channel closed): ignore it.
            return []
        }
    }

    /// The cluster's desired view changed. Only a newer revision than the current one counts.
    /// With an UPDATE in flight, a non-writable channel or a drain in progress, the view only
    /// replaces the pending one (latest wins).
    ///
    /// - Parameter view: The new desired view of ``identity``.
    /// - Returns: An UPDATE with the difference, `synchronized`, or nothing.
    public mutating func viewChanged(_ view: ClusterView) -> [Action] {
        switch self.state {
        case .awaitingHello, .lookingUp:
            self.adopt(view)
            return []
        case .established:
            self.adopt(view)
            return self.sendPendingDifference()
        case .closing, .closed:
            return []
        }
    }

    /// The channel's writability changed (NIO's high/low water marks). Updates are only sent while
    /// it is writable; heartbeats and control messages are small and always sent.
    ///
    /// - Parameter writable: The channel's new writability.
    /// - Returns: The pending update, if the channel became writable and one is due.
    public mutating func writabilityChanged(_ writable: Bool) -> [Action] {
        self.isWritable = writable
        switch self.state {
        case .established:
            return self.sendPendingDifference()
        case .awaitingHello, .lookingUp, .closing, .closed:
            return []
        }
    }

    /// The timer armed for ``nextTimerDeadline`` fired.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: A heartbeat, or a GOODBYE and close when a deadline passed.
    public mutating func timerFired(now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .awaitingHello(let deadline):
            guard now >= deadline else {
                return []
            }
            return self.goodbyeAndClose(
                .handshakeTimeout,
                "no HELLO within \(self.configuration.handshakeTimeout) of connecting"
            )
        case .lookingUp(_, _, let deadline):
            guard now >= deadline else {
                return []
            }
            return self.refuse(
                .internalError,
                "the server could not look up cluster \"\(self.identity)\" within the handshake timeout",
                retryAfter: .zero
            )
        case .established(var liveness, let drainDeadline):
            if liveness.isPeerDead(now: now) {
                return self.goodbyeAndClose(
                    .heartbeatTimeout,
                    "no frame from the agent for \(SessionLiveness.silentIntervalsBeforeDead) heartbeat intervals "
                        + "(\(liveness.interval * SessionLiveness.silentIntervalsBeforeDead))"
                )
            }
            if let drainDeadline, now >= drainDeadline {
                return self.goodbyeAndClose(.draining, "drain timeout: server \(self.configuration.serverID) is shutting down")
            }
            let heartbeat = liveness.heartbeatIfDue(now: now)
            self.state = .established(liveness: liveness, drainDeadline: drainDeadline)
            return heartbeat.map { [.send(.heartbeat($0))] } ?? []
        case .closing, .closed:
            return []
        }
    }

    /// The server is shutting down: an established session sends DRAIN, stops sending updates
    /// and closes at the latest after ``Configuration/drainTimeout``; a session still in its
    /// handshake says GOODBYE (`draining`) and closes at once.
    ///
    /// - Parameter now: The current instant.
    /// - Returns: DRAIN, or GOODBYE and close; nothing when already draining or closing.
    public mutating func drain(now: ContinuousClock.Instant) -> [Action] {
        switch self.state {
        case .awaitingHello, .lookingUp:
            return self.goodbyeAndClose(.draining, "server \(self.configuration.serverID) is shutting down: connect to another server")
        case .established(let liveness, let drainDeadline):
            guard drainDeadline == nil else {
                return []
            }
            self.state = .established(liveness: liveness, drainDeadline: now + self.configuration.drainTimeout)
            let drain = Drain(
                message: "server \(self.configuration.serverID) is shutting down: reconnect to another server now",
                closeAfterMilliseconds: self.configuration.drainTimeout.relayClampedMilliseconds
            )
            return [.send(.drain(drain))]
        case .closing, .closed:
            return []
        }
    }

    /// The cluster's registration was deleted while the session is up (or being set up): say
    /// GOODBYE (`unknownCluster`) and close. The agent keeps everything it holds.
    ///
    /// - Returns: GOODBYE and close, or nothing if the handshake has not reached the lookup.
    public mutating func clusterUnregistered() -> [Action] {
        switch self.state {
        case .lookingUp, .established:
            return self.goodbyeAndClose(.unknownCluster, "cluster \"\(self.identity)\" is no longer registered")
        case .awaitingHello, .closing, .closed:
            return []
        }
    }

    /// The decoder failed (malformed frame, frame over the size limit, unknown message type
    /// without the ignorable flag): say GOODBYE with that code and close.
    ///
    /// - Parameters:
    ///   - code: `malformedFrame`, `unsupportedMessage`, …
    ///   - message: What was wrong, for the agent's log.
    /// - Returns: GOODBYE and close.
    public mutating func frameError(_ code: RelayErrorCode, message: String) -> [Action] {
        switch self.state {
        case .awaitingHello, .lookingUp, .established:
            return self.goodbyeAndClose(code, message)
        case .closing, .closed:
            return []
        }
    }

    /// The channel closed (for any reason). Releases the session's memory.
    ///
    /// - Returns: `disconnected` if the session had been established, else nothing.
    public mutating func channelClosed() -> [Action] {
        let wasEstablished: Bool
        switch self.state {
        case .established:
            wasEstablished = true
        case .closing(let established):
            wasEstablished = established
        case .awaitingHello, .lookingUp, .closed:
            wasEstablished = false
        }
        self.state = .closed
        self.desired = nil
        self.knownVersions = [:]
        self.knownView = nil
        self.inFlightRevision = nil
        return wasEstablished ? [.disconnected(cluster: self.identity)] : []
    }

    // MARK: Handshake

    private mutating func helloReceived(_ hello: Hello) -> [Action] {
        let common = Set(self.configuration.supportedVersions).intersection(hello.protocolVersions)
        guard let protocolVersion = common.max() else {
            return self.refuse(
                .unsupportedVersion,
                "no protocol version in common: the agent speaks \(hello.protocolVersions), this server speaks "
                    + "\(self.configuration.supportedVersions); upgrade the older side",
                retryAfter: self.configuration.refusalRetryAfter
            )
        }
        guard hello.cluster == self.identity else {
            return self.refuse(
                .identityMismatch,
                "HELLO names cluster \"\(hello.cluster)\" but the client certificate identifies cluster "
                    + "\"\(self.identity)\": fix the agent's cluster name or its certificate",
                retryAfter: self.configuration.refusalRetryAfter
            )
        }
        var keys = Set<RelayResourceKey>()
        for resource in hello.held where !keys.insert(resource.key).inserted {
            return self.closeForViolation("HELLO lists \(resource.key) twice")
        }
        switch self.state {
        case .awaitingHello(let deadline):
            self.state = .lookingUp(hello: hello, protocolVersion: protocolVersion, deadline: deadline)
            return [.lookUpCluster(self.identity)]
        case .lookingUp, .established, .closing, .closed:
            // Only reached from `.awaitingHello` (see messageReceived).
            return []
        }
    }

    private mutating func establish(
        hello: Hello,
        protocolVersion: UInt32,
        view: ClusterView,
        now: ContinuousClock.Instant
    ) -> [Action] {
        self.adopt(view)
        // `adopt` keeps a newer view that arrived during the lookup.
        let current = self.desired ?? view
        var known: [RelayResourceKey: Int64] = [:]
        known.reserveCapacity(hello.held.count)
        for resource in hello.held {
            known[resource.key] = resource.version
        }
        self.knownVersions = known
        self.knownView = nil
        self.firstSyncPending = hello.held.isEmpty && hello.appliedRevision == 0
        self.hasUnsentView = true
        self.state = .established(
            liveness: SessionLiveness(interval: self.configuration.heartbeatInterval, now: now),
            drainDeadline: nil
        )
        let welcome = Welcome(
            protocolVersion: protocolVersion,
            serverVersion: self.configuration.serverVersion,
            serverID: self.configuration.serverID,
            cluster: self.identity,
            heartbeatIntervalMilliseconds: max(1, self.configuration.heartbeatInterval.relayClampedMilliseconds),
            revision: current.revision
        )
        self.dataPlane = hello.dataPlane
        var actions: [Action] = [.established(cluster: self.identity, hello: hello, protocolVersion: protocolVersion)]
        // What the agent already holds at the desired version is applied there, whatever this
        // server recorded: a server that died between an agent's ACK and its status write (or
        // another replica that received the ACK) leaves nothing PENDING for ever.
        let held = hello.held.filter { current.resources[$0.key]?.version == $0.version }.map(\.result)
        if !held.isEmpty {
            actions.append(.recordHeld(revision: hello.appliedRevision, results: held))
        }
        actions.append(.send(.welcome(welcome)))
        actions.append(contentsOf: self.sendPendingDifference())
        return actions
    }

    // MARK: Synchronisation

    private mutating func adopt(_ view: ClusterView) {
        if let current = self.desired, view.revision <= current.revision {
            return
        }
        self.desired = view
        self.hasUnsentView = true
    }

    /// Sends the difference between what the agent has and the latest view, if the session may
    /// send one now: established, not draining, writable, nothing in flight, a view not yet sent.
    private mutating func sendPendingDifference() -> [Action] {
        switch self.state {
        case .established(_, let drainDeadline):
            guard drainDeadline == nil else {
                return []
            }
        case .awaitingHello, .lookingUp, .closing, .closed:
            return []
        }
        guard self.isWritable, self.inFlightRevision == nil, self.hasUnsentView, let view = self.desired else {
            return []
        }
        self.hasUnsentView = false

        // The agent holds nothing: send the whole view as a snapshot, whose bytes every session of
        // the cluster shares. An empty snapshot only for a first sync, so the agent learns it is
        // in sync.
        if self.knownVersions.isEmpty && (!view.resources.isEmpty || self.firstSyncPending) {
            self.firstSyncPending = false
            self.knownVersions = view.versions
            self.knownView = view
            self.inFlightRevision = view.revision
            return [.sendSnapshot(view)]
        }

        let (upserts, removals) = self.knownView.flatMap { view.difference(from: $0) } ?? view.difference(from: self.knownVersions)
        guard !upserts.isEmpty || !removals.isEmpty else {
            self.knownView = view
            return [.synchronized(revision: view.revision)]
        }
        self.firstSyncPending = false
        for resource in upserts {
            self.knownVersions[resource.key] = resource.version
        }
        for key in removals {
            self.knownVersions[key] = nil
        }
        self.knownView = view
        self.inFlightRevision = view.revision
        let update = Update(revision: view.revision, isSnapshot: false, upserts: upserts, removals: removals)
        return [.send(.update(update))]
    }

    private mutating func ackReceived(_ ack: Ack) -> [Action] {
        guard let inFlight = self.inFlightRevision else {
            return self.closeForViolation("ACK for revision \(ack.revision) while no UPDATE is in flight")
        }
        guard ack.revision == inFlight else {
            return self.closeForViolation(
                "ACK for revision \(ack.revision) while the UPDATE in flight has revision \(inFlight)"
            )
        }
        // Each result must name a version this session sent: an UPDATE goes out only together with
        // `knownView`, the view it brought the agent to, so one lookup there checks a result and
        // finds the generation sent, which the status records (the server's current view may hold
        // a newer version by then).
        let sentView = self.knownView
        var generations: [Int64] = []
        generations.reserveCapacity(ack.results.count)
        for result in ack.results {
            guard let sent = sentView?.resources[result.key], sent.version == result.version else {
                return self.closeForViolation(
                    "ACK reports \(result.key) at version \(result.version), which this session did not send"
                )
            }
            generations.append(sent.generation)
        }
        self.inFlightRevision = nil
        var actions: [Action] = [.recordAck(revision: ack.revision, results: ack.results, generations: generations)]
        let next = self.sendPendingDifference()
        actions.append(contentsOf: next)
        // Nothing newer to send: the agent now holds the view of the acknowledged revision (apart
        // from versions it rejected), which the server records as the cluster's applied revision.
        if next.isEmpty {
            actions.append(.synchronized(revision: ack.revision))
        }
        return actions
    }

    // MARK: Closing

    private mutating func refuse(_ code: RelayErrorCode, _ message: String, retryAfter: Duration) -> [Action] {
        let refuse = Refuse(code: code, message: message, retryAfterMilliseconds: retryAfter.relayClampedMilliseconds)
        return self.close(code, message, farewell: .refuse(refuse))
    }

    private mutating func goodbyeAndClose(_ code: RelayErrorCode, _ message: String) -> [Action] {
        self.close(code, message, farewell: .goodbye(Goodbye(code: code, message: message)))
    }

    private mutating func closeForViolation(_ message: String) -> [Action] {
        self.goodbyeAndClose(.protocolViolation, message)
    }

    private mutating func peerSaidGoodbye(_ goodbye: Goodbye) -> [Action] {
        self.close(goodbye.code, "the agent said goodbye: \(goodbye.message)", farewell: nil)
    }

    private mutating func close(_ code: RelayErrorCode, _ message: String, farewell: RelayMessage?) -> [Action] {
        self.state = .closing(wasEstablished: self.isEstablished)
        var actions: [Action] = []
        if let farewell {
            actions.append(.send(farewell))
        }
        actions.append(.close(code: code, message: message))
        return actions
    }
}
