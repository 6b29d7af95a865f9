public import Foundation
public import Logging
import MeshRelayModel
import MeshRelayProtocol
public import MeshRelayStore
public import ServiceLifecycle
import Synchronization

/// The server's side of distribution: the agent sessions by cluster and the desired views.
///
/// Views are computed once per store revision (``ClusterViews``) and shared by every session of a
/// cluster, and between clusters that see the same namespaces. A store change (``storeChanged()``)
/// wakes the hub's run loop, which recomputes the views once for however many changes arrived
/// meanwhile and hands each session its cluster's latest view (the session state machines
/// coalesce: latest wins). Sessions report what their agents acknowledged through
/// ``recordEstablished(_:)`` and friends, written to the store in order per session.
public final class RelayHub: Service, Sendable {
    struct Session {
        let cluster: String
        /// When the session's client certificate expires.
        let certificateNotAfter: Date?
        let push: @Sendable (ClusterView) -> Void
        let drain: @Sendable () -> Void
    }

    private struct State {
        var views: ClusterViews?
        var sessions: [UInt64: Session] = [:]
        var nextID: UInt64 = 0
        /// When recent revisions were committed (for the convergence histogram); bounded.
        var commits: [Int64: ContinuousClock.Instant] = [:]
        /// The highest revision each cluster was seen holding (each revision counted once).
        var converged: [String: Int64] = [:]
        /// Encoded snapshot UPDATE frames of the current views, by view group.
        var snapshotFrames: [Int: RelayFrame] = [:]
    }

    /// How many commit times are remembered.
    static let rememberedCommits = 1024

    let store: any ResourceStore
    let serverID: String
    let logger: Logger
    let metrics: ServerMetrics?
    /// Where acknowledged outcomes become events (`describe`).
    public let events: EventLog?
    private let state = Mutex(State())
    private let changes: AsyncStream<Void>
    private let changesContinuation: AsyncStream<Void>.Continuation

    public init(store: any ResourceStore, serverID: String, logger: Logger, metrics: ServerMetrics? = nil, events: EventLog? = nil) {
        self.metrics = metrics
        self.events = events
        self.store = store
        self.serverID = serverID
        self.logger = logger
        (changes, changesContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Tells the hub that the store changed (after an API write that committed `revision`).
    public func storeChanged(revision: Int64) {
        state.withLock { state in
            // Another replica's revision can be announced more than once (notification, poll):
            // its commit time is when this replica first heard of it.
            guard state.commits[revision] == nil, state.views.map({ $0.revision < revision }) ?? true else { return }
            state.commits[revision] = ContinuousClock.now
            if state.commits.count > Self.rememberedCommits, let oldest = state.commits.keys.min() {
                state.commits[oldest] = nil
            }
        }
        changesContinuation.yield()
    }

    /// A cluster's agent holds `revision`: observe the time since every newer commit it covers.
    func observeConvergence(cluster: String, revision: Int64) {
        guard let metrics else { return }
        let now = ContinuousClock.now
        let samples = state.withLock { state -> [Duration] in
            let previous = state.converged[cluster] ?? 0
            guard revision > previous else { return [] }
            state.converged[cluster] = revision
            return state.commits.filter { $0.key > previous && $0.key <= revision }.map { now - $0.value }
        }
        for sample in samples { metrics.convergence(cluster: cluster, seconds: sample) }
    }

    private func recordConnectedGauge(for cluster: String, in state: State) {
        metrics?.agentsConnected(cluster: cluster, count: state.sessions.values.filter { $0.cluster == cluster }.count)
    }

    /// Recomputes and pushes views on every change until shutdown.
    public func run() async throws {
        for await _ in changes.cancelOnGracefulShutdown() {
            await pushViews()
        }
    }

    /// The current views, recomputed when the store's revision moved.
    func views() async throws -> ClusterViews {
        let revision = try await store.revision()
        if let current = state.withLock({ $0.views }), current.revision >= revision {
            return current
        }
        let resources = try await store.list(kind: nil, namespace: nil)
        let views = ClusterViews(revision: revision, resources: resources)
        return state.withLock { state in
            if let current = state.views, current.revision >= views.revision { return current }
            state.views = views
            state.snapshotFrames = [:]
            return views
        }
    }

    private func pushViews() async {
        let views: ClusterViews
        do {
            views = try await self.views()
        } catch {
            logger.warning("cannot compute the cluster views; agents keep their state", metadata: ["error": "\(error)"])
            return
        }
        let sessions = state.withLock { Array($0.sessions.values) }
        for session in sessions {
            session.push(views.view(for: session.cluster) ?? ClusterView(revision: views.revision, resources: [:]))
        }
    }

    /// Whether `cluster` is registered, and its view.
    func lookUp(cluster: String) async -> ServerSessionStateMachine.ClusterLookup {
        do {
            let views = try await self.views()
            guard let view = views.view(for: cluster) else { return .unregistered }
            return .registered(view)
        } catch {
            return .failed("the server cannot read its store; retry later")
        }
    }

    /// The snapshot UPDATE frame of `view` for `cluster`, encoded once per revision and view group
    /// and shared by every session that sends it (first syncs of many agents, reconnect storms).
    func snapshotFrame(cluster: String, view: ClusterView) throws(RelayProtocolError) -> RelayFrame {
        let group = state.withLock { state -> Int? in
            guard let views = state.views, views.revision == view.revision, let group = views.viewGroup[cluster] else { return nil }
            return group
        }
        guard let group else {
            return try RelayMessageCoding.frame(for: .update(view.snapshotUpdate))
        }
        if let frame = state.withLock({ $0.views?.revision == view.revision ? $0.snapshotFrames[group] : nil }) {
            return frame
        }
        let frame = try RelayMessageCoding.frame(for: .update(view.snapshotUpdate))
        state.withLock { state in
            if state.views?.revision == view.revision { state.snapshotFrames[group] = frame }
        }
        return frame
    }

    /// Adds an established session, which from now on receives every view pushed, and hands it
    /// the current view at once: a write that committed while the session looked its cluster up
    /// was pushed before the session was here, and must not wait for the next write.
    func register(
        cluster: String, certificateNotAfter: Date? = nil, push: @escaping @Sendable (ClusterView) -> Void, drain: @escaping @Sendable () -> Void
    ) -> UInt64 {
        let (id, current) = state.withLock { state -> (UInt64, ClusterView?) in
            state.nextID += 1
            state.sessions[state.nextID] = Session(cluster: cluster, certificateNotAfter: certificateNotAfter, push: push, drain: drain)
            recordConnectedGauge(for: cluster, in: state)
            return (state.nextID, state.views.map { $0.view(for: cluster) ?? ClusterView(revision: $0.revision, resources: [:]) })
        }
        // Views are set and sessions listed under the same lock: either this sees the new views,
        // or the push that follows them lists this session. The machine ignores a view that is
        // not newer than the one it has.
        if let current { push(current) }
        return id
    }

    /// For each cluster with a session here, when the soonest-expiring client certificate of its
    /// sessions expires.
    public func agentCertificates() -> [String: Date] {
        state.withLock { state in
            var soonest: [String: Date] = [:]
            for session in state.sessions.values {
                guard let notAfter = session.certificateNotAfter else { continue }
                soonest[session.cluster] = min(soonest[session.cluster] ?? notAfter, notAfter)
            }
            return soonest
        }
    }

    func unregister(_ id: UInt64) {
        state.withLock { state in
            if let session = state.sessions.removeValue(forKey: id) {
                recordConnectedGauge(for: session.cluster, in: state)
            }
        }
    }

    /// Asks every session to drain (server shutdown); returns how many there were.
    func drainAll() -> Int {
        let sessions = state.withLock { Array($0.sessions.values) }
        for session in sessions { session.drain() }
        return sessions.count
    }

    /// Number of established sessions.
    var sessionCount: Int { state.withLock { $0.sessions.count } }

    // MARK: Status

    /// A status write of one session, applied in order.
    enum StatusWrite: Sendable {
        case connected(ClusterStatusRecord)
        case ack(cluster: String, revision: Int64, records: [ResourceStatusRecord])
        case synchronized(cluster: String, revision: Int64)
        case dataPlane(DataPlaneHealth)
        case disconnected(cluster: String)
    }

    /// What the store keeps of a health report: at most 64 characters of state and 512 of message
    /// (an agent controls both).
    static func bounded(_ health: DataPlaneHealth) -> DataPlaneHealth {
        DataPlaneHealth(state: String(health.state.prefix(64)), message: String(health.message.prefix(512)))
    }

    /// Applies a session's status writes in order (one task per session).
    func write(_ writes: AsyncStream<StatusWrite>) async {
        var record: ClusterStatusRecord?
        for await write in writes {
            do {
                switch write {
                case .connected(let connected):
                    record = connected
                    try await store.saveClusterStatus(connected)
                case .ack(_, _, let records):
                    try await store.saveResourceStatuses(records)
                case .synchronized(_, let revision):
                    if var current = record {
                        current.appliedRevision = max(current.appliedRevision, revision)
                        current.lastSeen = Date()
                        current.updatedAt = Date()
                        record = current
                        try await store.saveClusterStatus(current)
                    }
                case .dataPlane(let health):
                    if var current = record {
                        current.dataPlaneState = health.state
                        current.dataPlaneMessage = health.message
                        current.lastSeen = Date()
                        current.updatedAt = Date()
                        record = current
                        try await store.saveClusterStatus(current)
                    }
                case .disconnected(let cluster):
                    // A newer session of the cluster, here or on another replica, owns the record.
                    if state.withLock({ $0.sessions.values.contains { $0.cluster == cluster } }) { break }
                    if record == nil {
                        try await store.saveClusterStatus(ClusterStatusRecord(cluster: cluster, connected: false, lastSeen: Date(), server: serverID, updatedAt: Date()))
                    } else {
                        try await store.markDisconnected(cluster: cluster, server: serverID, at: Date())
                    }
                }
            } catch {
                logger.warning("cannot record agent status", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Converts an agent's results into store records for `cluster` (one lock for the batch: a
    /// reconnecting agent reports everything it holds).
    func statusRecords(cluster: String, revision: Int64, results: [ResourceResult]) -> [ResourceStatusRecord] {
        let now = Date()
        let view = state.withLock { $0.views?.view(for: cluster) }
        return results.compactMap { result in
            guard let kind = ResourceKind(rawValue: result.key.kind) else { return nil }
            let state: ClusterResourceState =
                switch result.state {
                case .applied: .applied
                case .failed: .failed
                case .warning: .warning
                }
            return ResourceStatusRecord(
                cluster: cluster, key: ResourceKey(kind: kind, namespace: result.key.namespace, name: result.key.name),
                state: state, message: result.message,
                observedGeneration: view?.resources[result.key].flatMap { $0.version == result.version ? $0.generation : nil } ?? 0,
                revision: revision, updatedAt: now
            )
        }
    }
}
