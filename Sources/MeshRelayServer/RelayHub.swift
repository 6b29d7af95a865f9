import CoreMetrics
public import Foundation
public import Logging
import MeshRelayModel
import MeshRelayProtocol
public import MeshRelayStore
import NIOCore
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
        /// The sessions of the session's loop, which hand it views.
        let loop: LoopSessions
        let drain: @Sendable () -> Void
    }

    private struct State {
        var views: ClusterViews?
        var sessions: [UInt64: Session] = [:]
        /// The event loops of the sessions, each with its sessions (``LoopSessions``).
        var loops: [ObjectIdentifier: LoopSessions] = [:]
        var nextID: UInt64 = 0
        /// When recent revisions were committed (for the convergence histogram); bounded.
        var commits = CommitTimes()
        /// The highest revision each cluster was seen holding (each revision counted once).
        var converged: [String: Int64] = [:]
        /// Encoded snapshot UPDATE frames of the current views, by view group.
        var snapshotFrames: [Int: RelayFrame] = [:]
        /// The views being computed, and for which revision (``views()``).
        var computing: (revision: Int64, task: Task<ClusterViews, any Error>)?
        /// Encoded UPDATE frames by content (see ``updateFrame(_:)``), of the latest revision.
        var updateFrames: [UpdateContent: RelayFrame] = [:]
    }

    /// The least time between two commits of agents' status (how far the stored status may lag
    /// behind what agents reported).
    static let statusCommitInterval = Duration.milliseconds(100)

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
    /// Status writes of all sessions waiting for the status writer, and how many writes were
    /// recorded and committed so far (``flushStatus()``).
    private let statusBatch = Mutex(PendingStatus())

    struct PendingStatus {
        var batch = StatusBatch()
        var recorded = 0
        var committed = 0
        /// Each cluster's recent applied steps (``ClusterStatusRecord/appliedSteps``): what this
        /// replica recorded, merged with what the store held at start. Kept here rather than in
        /// the sessions' records, so that a step is appended in place and the records written
        /// get them at commit.
        var appliedSteps: [String: [AppliedStep]] = [:]
        /// ACKs' results for the event log, in arrival order: recorded by the status writer with
        /// the commit, off the relay's event loops (an initial sync of 10,000 resources to 100
        /// agents is a million of them).
        var acknowledged: [[ResourceStatusRecord]] = []
    }
    private let statusWrites: AsyncStream<Void>
    private let statusWritten: AsyncStream<Void>.Continuation

    public init(store: any ResourceStore, serverID: String, logger: Logger, metrics: ServerMetrics? = nil, events: EventLog? = nil) {
        self.metrics = metrics
        self.events = events
        self.store = store
        self.serverID = serverID
        self.logger = logger
        (changes, changesContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (statusWrites, statusWritten) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Tells the hub that the store changed (after an API write that committed `revision`).
    public func storeChanged(revision: Int64) {
        state.withLock { state in
            // Another replica's revision can be announced more than once (notification, poll):
            // its commit time is when this replica first heard of it.
            guard state.views.map({ $0.revision < revision }) ?? true else { return }
            state.commits.record(revision, at: ContinuousClock.now, keeping: Self.rememberedCommits)
        }
        changesContinuation.yield()
    }

    /// A cluster's agent holds `revision`: observe the time since every newer commit it covers in
    /// `histogram` (the cluster's, from ``ServerMetrics/convergence(cluster:)``).
    func observeConvergence(cluster: String, revision: Int64, in histogram: CoreMetrics.Timer) {
        let now = ContinuousClock.now
        let samples = state.withLock { state -> [Duration] in
            let previous = state.converged[cluster] ?? 0
            guard revision > previous else { return [] }
            state.converged[cluster] = revision
            return state.commits.times(after: previous, through: revision).map { now - $0 }
        }
        for sample in samples { histogram.record(duration: sample) }
    }

    private func recordConnectedGauge(for cluster: String, in state: State) {
        metrics?.agentsConnected(cluster: cluster, count: state.sessions.values.filter { $0.cluster == cluster }.count)
    }

    /// Recomputes and pushes views on every change, and commits the sessions' status writes,
    /// until shutdown; then commits the status writes still pending (the relay listener, shut
    /// down first, has closed the sessions by then).
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.writeStatuses() }
            // Changes that arrive while views are computed and pushed join the next push.
            for await _ in changes.cancelOnGracefulShutdown() {
                await pushViews()
            }
            statusWritten.finish()
        }
    }

    /// The current views, recomputed when the store's revision moved.
    ///
    /// One computation at a time serves every caller that needs at least its revision: when 100
    /// agents connect at once right after a large apply, their lookups used to compute the views
    /// of 10,000 resources 100 times over.
    func views() async throws -> ClusterViews {
        let revision = try await store.revision()
        enum Source {
            case ready(ClusterViews)
            case computing(Task<ClusterViews, any Error>)
        }
        let source = state.withLock { state -> Source in
            if let current = state.views, current.revision >= revision { return .ready(current) }
            if let computing = state.computing, computing.revision >= revision { return .computing(computing.task) }
            let task = Task { try await self.computeViews(revision: revision) }
            state.computing = (revision, task)
            return .computing(task)
        }
        switch source {
        case .ready(let views): return views
        case .computing(let task): return try await task.value
        }
    }

    private func computeViews(revision: Int64) async throws -> ClusterViews {
        defer {
            state.withLock { state in
                if state.computing?.revision == revision { state.computing = nil }
            }
        }
        let views: ClusterViews
        if let previous = state.withLock({ $0.views }), previous.revision < revision,
            case .changes(let changes) = try await store.changes(since: previous.revision),
            let updated = previous.applying(changes)
        {
            views = updated
        } else {
            views = ClusterViews(revision: revision, resources: try await store.list(kind: nil, namespace: nil))
        }
        return state.withLock { state in
            if let current = state.views, current.revision >= views.revision { return current }
            state.views = views
            state.snapshotFrames = [:]
            state.updateFrames = [:]
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
        let loops = state.withLock { Array($0.loops.values) }
        for loop in loops { loop.post(views) }
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

    /// What identifies an UPDATE's encoding: its revision, kind, and the keys and versions of its
    /// upserts and removals (a resource's version names its content).
    struct UpdateContent: Hashable {
        var revision: Int64
        var isSnapshot: Bool
        var upserts: [RelayResourceKey]
        var versions: [Int64]
        var removals: [RelayResourceKey]

        init(_ update: Update) {
            revision = update.revision
            isSnapshot = update.isSnapshot
            upserts = update.upserts.map(\.key)
            versions = update.upserts.map(\.version)
            removals = update.removals
        }
    }

    /// Encoded UPDATE frames kept for one revision.
    static let rememberedUpdateFrames = 64

    /// The frame of `update`, encoded once for every session that sends the same update: after a
    /// write, the sessions of clusters that see the same resources and were in step compute the
    /// same difference, and encoding it once per session was a tenth of the fan-out's CPU.
    func updateFrame(_ update: Update) throws(RelayProtocolError) -> RelayFrame {
        let content = UpdateContent(update)
        if let frame = state.withLock({ $0.updateFrames[content] }) {
            return frame
        }
        let frame = try RelayMessageCoding.frame(for: .update(update))
        state.withLock { state in
            // Only frames of the newest revision are kept; a lagging session encodes its own.
            guard state.views?.revision == update.revision else { return }
            if state.updateFrames.count >= Self.rememberedUpdateFrames { state.updateFrames = [:] }
            state.updateFrames[content] = frame
        }
        return frame
    }

    /// Adds an established session, which from now on receives every view pushed (`deliver`,
    /// called on `eventLoop`), and hands it the current view in a task of its own: a write that
    /// committed while the session looked its cluster up was pushed before the session was here,
    /// and must not wait for the next write. Called on `eventLoop`, as is ``unregister(_:)``.
    func register(
        cluster: String, certificateNotAfter: Date? = nil, on eventLoop: any EventLoop, deliver: @escaping (ClusterView) -> Void,
        drain: @escaping @Sendable () -> Void
    ) -> UInt64 {
        let (id, loop, current) = state.withLock { state -> (UInt64, LoopSessions, ClusterView?) in
            state.nextID += 1
            let key = ObjectIdentifier(eventLoop)
            let loop = state.loops[key] ?? LoopSessions(eventLoop: eventLoop)
            state.loops[key] = loop
            state.sessions[state.nextID] = Session(cluster: cluster, certificateNotAfter: certificateNotAfter, loop: loop, drain: drain)
            recordConnectedGauge(for: cluster, in: state)
            return (state.nextID, loop, state.views?.sessionView(for: cluster))
        }
        // A delivery task runs on this loop, so it runs wholly before this call (and the views
        // it delivers were set before, so `current` is at least as new) or after it (and finds
        // the session). The machine ignores a view that is not newer than the one it has.
        loop.add(id, LoopSessions.Member(cluster: cluster, deliver: deliver))
        if let current {
            let first = NIOLoopBound(deliver, eventLoop: eventLoop)
            eventLoop.execute { first.value(current) }
        }
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

    /// Removes a session; on its event loop.
    func unregister(_ id: UInt64) {
        let session = state.withLock { state -> Session? in
            let session = state.sessions.removeValue(forKey: id)
            if let session { recordConnectedGauge(for: session.cluster, in: state) }
            return session
        }
        session?.loop.remove(id)
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
        /// Results of an ACK (`acknowledged`: they also become events) or a HELLO's held resources,
        /// as records (which carry the cluster and the revision).
        case ack(records: [ResourceStatusRecord], acknowledged: Bool)
        case synchronized(cluster: String, revision: Int64)
        case dataPlane(DataPlaneHealth)
        case disconnected(cluster: String)
    }

    /// What the store keeps of a health report: at most 64 characters of state and 512 of message
    /// (an agent controls both).
    static func bounded(_ health: DataPlaneHealth) -> DataPlaneHealth {
        DataPlaneHealth(state: String(health.state.prefix(64)), message: String(health.message.prefix(512)))
    }

    /// Records a session's status write: merged into the pending ``StatusBatch``, which the
    /// hub's status writer commits (``run()``). `record` is the session's cluster record, kept by
    /// the session (loop-bound) between calls.
    func recordStatus(_ write: StatusWrite, record: inout ClusterStatusRecord?) {
        let now = Date()
        var change: ((inout PendingStatus) -> Void)?
        switch write {
        case .connected(let connected):
            record = connected
            change = { $0.batch.save(connected) }
        case .ack(let records, let acknowledged):
            guard !records.isEmpty else { return }
            let toEvents = acknowledged && events != nil
            change = { pending in
                pending.batch.add(resources: records)
                if toEvents { pending.acknowledged.append(records) }
            }
        case .synchronized(let cluster, let revision):
            guard var current = record else { return }
            // The agent holds the view of `revision`: status derives APPLIED from it, so it is
            // what the session says now (not the maximum with a HELLO's claim).
            let previous = current.appliedRevision
            current.appliedRevision = revision
            current.lastSeen = now
            current.updatedAt = now
            record = current
            let step = revision > previous ? AppliedStep(from: previous, to: revision, at: now) : nil
            change = { [current] pending in
                pending.batch.save(current)
                if let step { ClusterStatusRecord.merge([step], into: &pending.appliedSteps[cluster, default: []]) }
            }
        case .dataPlane(let health):
            guard var current = record else { return }
            current.dataPlaneState = health.state
            current.dataPlaneMessage = health.message
            current.lastSeen = now
            current.updatedAt = now
            record = current
            change = { [current] in $0.batch.save(current) }
        case .disconnected(let cluster):
            // A newer session of the cluster, here or on another replica, owns the record.
            if state.withLock({ $0.sessions.values.contains { $0.cluster == cluster } }) { return }
            if record == nil {
                let disconnected = ClusterStatusRecord(cluster: cluster, connected: false, lastSeen: now, server: serverID, updatedAt: now)
                change = { $0.batch.save(disconnected) }
            } else {
                change = { $0.batch.markDisconnected(cluster: cluster, at: now) }
            }
        }
        guard let change else { return }
        statusBatch.withLock { pending in
            change(&pending)
            pending.recorded += 1
        }
        statusWritten.yield()
    }

    /// Commits pending status writes until `statusWritten` finishes, then the rest: each commit
    /// takes everything that arrived while the previous one ran.
    private func writeStatuses() async {
        // The applied steps the store holds (of sessions this replica held before a restart, or
        // another replica held) stay known to the records written from now on.
        do {
            let stored = try await store.clusterStatuses()
            statusBatch.withLock { pending in
                for record in stored where !record.appliedSteps.isEmpty {
                    ClusterStatusRecord.merge(record.appliedSteps, into: &pending.appliedSteps[record.cluster, default: []])
                }
            }
        } catch {
            // Only `since` of revisions applied before this start is lost; status stays right.
            logger.warning(
                "cannot read the clusters' applied steps; status will not say since when older revisions are applied",
                metadata: ["error": "\(error)"]
            )
        }
        for await _ in statusWrites {
            await commitStatuses()
            // At most one commit per interval: the ACKs of a fan-out (and of the next ones, under
            // a stream of writes) gather into one transaction instead of keeping the store's
            // writer and a core busy while the next write fans out.
            try? await Task.sleep(for: Self.statusCommitInterval)
        }
        await commitStatuses()
    }

    /// Commits the pending status writes (one store call per ``StatusBatch/Step``).
    func commitStatuses() async {
        let (batch, upTo, appliedSteps, acknowledged) = statusBatch.withLock { pending in
            defer {
                pending.batch = StatusBatch()
                pending.acknowledged = []
            }
            return (pending.batch, pending.recorded, pending.appliedSteps, pending.acknowledged)
        }
        defer { statusBatch.withLock { $0.committed = max($0.committed, upTo) } }
        if let events {
            for records in acknowledged { events.acknowledged(records) }
        }
        for step in batch.steps {
            do {
                switch step {
                case .resources(let records):
                    // One transaction per step, of a bounded size (``StatusBatch/rowsPerStep``):
                    // API writes queue for the same writer and get their turn between two.
                    try await store.saveResourceStatuses(records)
                case .clusters(var records):
                    for index in records.indices {
                        records[index].appliedSteps = appliedSteps[records[index].cluster] ?? []
                    }
                    try await store.saveClusterStatuses(records)
                case .markDisconnected(let cluster, let date):
                    try await store.markDisconnected(cluster: cluster, server: serverID, at: date)
                }
            } catch {
                logger.warning("cannot record agent status", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits (at most 2 s) until the status writes recorded before the call are committed: a
    /// status read right after an agent's ACK shows it, although the writer commits at most
    /// every ``statusCommitInterval``.
    public func flushStatus() async {
        let target = statusBatch.withLock { $0.recorded }
        statusWritten.yield()
        let deadline = ContinuousClock.now + .seconds(2)
        while statusBatch.withLock({ $0.committed < target }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Converts an agent's results into store records for `cluster`. `generations` (one per
    /// result: the generation of the version sent, from the session's machine) spare a lookup per
    /// result in the current view; without them the view is read once for the batch (a
    /// reconnecting agent reports everything it holds) and a version it no longer holds gets
    /// generation 0.
    func statusRecords(cluster: String, revision: Int64, results: [ResourceResult], generations: [Int64]? = nil) -> [ResourceStatusRecord] {
        let now = Date()
        if let generations, generations.count == results.count {
            // The session's machine said which generation each reported version was sent with.
            var records: [ResourceStatusRecord] = []
            records.reserveCapacity(results.count)
            for (result, generation) in zip(results, generations) {
                if let record = Self.statusRecord(cluster: cluster, revision: revision, result: result, generation: generation, at: now) {
                    records.append(record)
                }
            }
            return records
        }
        let view = state.withLock { $0.views?.view(for: cluster) }
        return results.compactMap { result in
            Self.statusRecord(
                cluster: cluster, revision: revision, result: result,
                generation: view?.resources[result.key].flatMap { $0.version == result.version ? $0.generation : nil } ?? 0, at: now
            )
        }
    }

    /// One result as a status record; nil for a kind this server does not know.
    private static func statusRecord(cluster: String, revision: Int64, result: ResourceResult, generation: Int64, at now: Date) -> ResourceStatusRecord? {
        guard let kind = ResourceKind(rawValue: result.key.kind) else { return nil }
        let state: ClusterResourceState =
            switch result.state {
            case .applied: .applied
            case .failed: .failed
            case .warning: .warning
            }
        return ResourceStatusRecord(
            cluster: cluster, key: ResourceKey(kind: kind, namespace: result.key.namespace, name: result.key.name),
            state: state, message: result.message, observedGeneration: generation, revision: revision, updatedAt: now
        )
    }
}

/// When recent revisions were committed, in revision order (a session's ACK looks up the few it
/// covers by binary search: at 1,000 ACKs per write, a scan of every remembered commit per ACK
/// was a measurable part of the fan-out).
struct CommitTimes: Sendable {
    private var revisions: [Int64] = []
    private var instants: [ContinuousClock.Instant] = []

    var count: Int { revisions.count }

    /// Remembers when `revision` committed (the first announcement counts), forgetting the oldest
    /// beyond `limit`.
    mutating func record(_ revision: Int64, at instant: ContinuousClock.Instant, keeping limit: Int) {
        let index = firstIndex(after: revision - 1)
        if index < revisions.count, revisions[index] == revision { return }
        revisions.insert(revision, at: index)
        instants.insert(instant, at: index)
        if revisions.count > limit {
            revisions.removeFirst(revisions.count - limit)
            instants.removeFirst(instants.count - limit)
        }
    }

    /// The commit times of the remembered revisions in `(previous, revision]`.
    func times(after previous: Int64, through revision: Int64) -> ArraySlice<ContinuousClock.Instant> {
        guard previous < revision else { return [] }
        return instants[firstIndex(after: previous)..<firstIndex(after: revision)]
    }

    /// The index of the first remembered revision greater than `revision`.
    private func firstIndex(after revision: Int64) -> Int {
        var low = 0
        var high = revisions.count
        while low < high {
            let middle = (low + high) / 2
            if revisions[middle] <= revision { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
