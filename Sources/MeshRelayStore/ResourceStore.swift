public import Foundation
public import MeshRelayModel

/// A resource as the store holds it: what the user wrote plus the server-owned fields.
public struct StoredResource: Sendable, Hashable {
    /// The user's resource; its metadata carries only user-owned fields.
    public var resource: Resource
    /// Stable identifier assigned at creation.
    public var uid: String
    /// Bumped only when the spec really changes (canonical JSON differs).
    public var generation: Int64
    /// The store revision at which this resource last changed (spec, labels or annotations).
    public var resourceVersion: Int64
    /// When the resource was created.
    public var createdAt: Date
    /// When the resource last changed.
    public var updatedAt: Date
    /// The spec's canonical JSON exactly as stored (``ResourceSpec/canonicalJSON()``), so that
    /// API responses can embed it without encoding the spec again.
    public var specJSON: String

    /// Creates a stored resource; stores fill it in from their rows.
    public init(
        resource: Resource, uid: String, generation: Int64, resourceVersion: Int64, createdAt: Date, updatedAt: Date,
        specJSON: String
    ) {
        self.resource = resource
        self.uid = uid
        self.generation = generation
        self.resourceVersion = resourceVersion
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.specJSON = specJSON
    }

    public var key: ResourceKey { resource.key }

    /// The resource with the server-owned metadata filled in, as the API returns it.
    public var object: Resource {
        var copy = resource
        copy.metadata.uid = uid
        copy.metadata.generation = generation
        copy.metadata.resourceVersion = String(resourceVersion)
        copy.metadata.creationTimestamp = RFC3339.string(from: createdAt)
        return copy
    }
}

/// What an apply did to one resource.
public enum ApplyAction: String, Sendable, Hashable, Codable {
    case created
    /// Spec, labels or annotations changed.
    case configured
    /// Identical to what was stored: no new revision, no new generation.
    case unchanged
}

/// The result of applying one resource.
public struct ApplyOutcome: Sendable, Hashable {
    public var key: ResourceKey
    public var action: ApplyAction
    public var generation: Int64
    public var resourceVersion: Int64

    public init(key: ResourceKey, action: ApplyAction, generation: Int64, resourceVersion: Int64) {
        self.key = key
        self.action = action
        self.generation = generation
        self.resourceVersion = resourceVersion
    }
}

/// The result of one apply: the store revision after it, and one outcome per input resource,
/// in input order.
public struct ApplyResult: Sendable, Hashable {
    public var revision: Int64
    public var outcomes: [ApplyOutcome]

    public init(revision: Int64, outcomes: [ApplyOutcome]) {
        self.revision = revision
        self.outcomes = outcomes
    }
}

/// The result of deleting one resource.
public struct DeleteOutcome: Sendable, Hashable {
    public var key: ResourceKey
    /// `false` when nothing was stored under that key.
    public var deleted: Bool

    public init(key: ResourceKey, deleted: Bool) {
        self.key = key
        self.deleted = deleted
    }
}

/// The result of one delete call.
public struct DeleteResult: Sendable, Hashable {
    public var revision: Int64
    public var outcomes: [DeleteOutcome]

    public init(revision: Int64, outcomes: [DeleteOutcome]) {
        self.revision = revision
        self.outcomes = outcomes
    }
}

/// A deleted resource as the change log remembers it.
public struct Tombstone: Sendable, Hashable {
    public var key: ResourceKey
    /// The revision of the deletion.
    public var revision: Int64

    public init(key: ResourceKey, revision: Int64) {
        self.key = key
        self.revision = revision
    }
}

/// Everything that changed after a revision: the latest state of each changed resource, and
/// tombstones of the deleted ones. A key appears at most once, in its latest state.
public struct ChangeSet: Sendable, Hashable {
    /// The revision the caller asked from (exclusive).
    public var since: Int64
    /// The store revision this change set brings the caller to.
    public var revision: Int64
    public var upserts: [StoredResource]
    public var tombstones: [Tombstone]

    public init(since: Int64, revision: Int64, upserts: [StoredResource], tombstones: [Tombstone]) {
        self.since = since
        self.revision = revision
        self.upserts = upserts
        self.tombstones = tombstones
    }
}

/// The answer to "what changed since R".
public enum ChangesSince: Sendable, Hashable {
    case changes(ChangeSet)
    /// R is older than the compacted horizon: the caller must take a full snapshot.
    case snapshotRequired(compactedRevision: Int64, revision: Int64)
}

/// One step of a cluster's agent: it held `from` and, at `at`, was recorded holding `to` (the
/// server had nothing left to send it at `to`). Every version the cluster's view gained in
/// `(from, to]` was first held at `at`.
public struct AppliedStep: Sendable, Hashable {
    public var from: Int64
    public var to: Int64
    public var at: Date

    public init(from: Int64, to: Int64, at: Date) {
        self.from = from
        self.to = to
        self.at = at
    }
}

/// What the store keeps of an agent's connection, per registered cluster.
public struct ClusterStatusRecord: Sendable, Hashable {
    /// How many ``appliedSteps`` a record keeps (the newest). Each cluster record written
    /// carries them (1,000 records per commit in a fan-out to 1,000 agents): 64 were a tenth of
    /// the server's CPU in that fan-out, 16 keep `since` for a cluster's last 16 revisions.
    public static let appliedStepLimit = 16

    public var cluster: String
    public var connected: Bool
    public var lastSeen: Date?
    /// The highest store revision the cluster's agent acknowledged.
    public var appliedRevision: Int64
    public var agentVersion: String?
    /// `REGISTRY_ONLY` or `ALLOW_ANY`, as the agent reported.
    public var outboundPolicy: String?
    /// Which server replica holds the session (later: HA).
    public var server: String?
    public var updatedAt: Date
    /// The agent's data plane: `HEALTHY`, `UNHEALTHY`, `NONE`; nil = not reported.
    public var dataPlaneState: String?
    /// Why, when unhealthy; what runs, when healthy.
    public var dataPlaneMessage: String?
    /// The cluster's most recent steps to a new applied revision, ascending by `to`, at most
    /// ``appliedStepLimit``: when a resource version was first held there (``appliedTime(of:)``),
    /// without a status row per resource and cluster.
    public var appliedSteps: [AppliedStep]

    public init(
        cluster: String, connected: Bool, lastSeen: Date? = nil, appliedRevision: Int64 = 0,
        agentVersion: String? = nil, outboundPolicy: String? = nil, server: String? = nil, updatedAt: Date,
        dataPlaneState: String? = nil, dataPlaneMessage: String? = nil, appliedSteps: [AppliedStep] = []
    ) {
        self.appliedSteps = appliedSteps
        self.dataPlaneState = dataPlaneState
        self.dataPlaneMessage = dataPlaneMessage
        self.cluster = cluster
        self.connected = connected
        self.lastSeen = lastSeen
        self.appliedRevision = appliedRevision
        self.agentVersion = agentVersion
        self.outboundPolicy = outboundPolicy
        self.server = server
        self.updatedAt = updatedAt
    }
}

extension ClusterStatusRecord {
    /// When the cluster's agent was first recorded holding what changed at `revision`: the time
    /// of the step with `from < revision <= to`; nil when no kept step covers it.
    public func appliedTime(of revision: Int64) -> Date? {
        // Steps are few (at most ``appliedStepLimit``) and ascending; the newest are asked most.
        for step in appliedSteps.reversed() where step.from < revision && revision <= step.to {
            return step.at
        }
        return nil
    }

    /// Adds `steps` to `kept`: ascending by `to`, one step per `to` (the earliest time), the
    /// newest ``appliedStepLimit``. Each step is a fact, so merging steps from any source (a
    /// replica's memory, the store) stays true.
    public static func merge(_ steps: [AppliedStep], into kept: inout [AppliedStep]) {
        guard !steps.isEmpty else { return }
        if let last = kept.last, let first = steps.first, steps.count == 1, last.to < first.to {
            kept.append(first)
        } else {
            var byEnd: [Int64: AppliedStep] = [:]
            for step in kept + steps {
                if let existing = byEnd[step.to], existing.at <= step.at { continue }
                byEnd[step.to] = step
            }
            kept = byEnd.values.sorted { $0.to < $1.to }
        }
        if kept.count > appliedStepLimit { kept.removeFirst(kept.count - appliedStepLimit) }
    }
}

/// A resource's state in one cluster, as the cluster's agent reported it.
public enum ClusterResourceState: String, Sendable, Hashable, Codable, CaseIterable {
    case applied = "APPLIED"
    case pending = "PENDING"
    case failed = "FAILED"
    case warning = "WARNING"
}

/// One resource's status in one cluster.
public struct ResourceStatusRecord: Sendable, Hashable {
    public var cluster: String
    public var key: ResourceKey
    public var state: ClusterResourceState
    public var message: String
    /// The generation the agent applied (or rejected).
    public var observedGeneration: Int64
    /// The store revision of that report's snapshot.
    public var revision: Int64
    public var updatedAt: Date

    public init(
        cluster: String, key: ResourceKey, state: ClusterResourceState, message: String,
        observedGeneration: Int64, revision: Int64, updatedAt: Date
    ) {
        self.cluster = cluster
        self.key = key
        self.state = state
        self.message = message
        self.observedGeneration = observedGeneration
        self.revision = revision
        self.updatedAt = updatedAt
    }
}

/// A bootstrap token an agent redeems once to enrol (docs/security.md): only its SHA-256 is
/// stored.
public struct BootstrapTokenRecord: Sendable, Hashable {
    /// Lowercase hex SHA-256 of the token text.
    public var hash: String
    /// The one cluster the token enrols.
    public var cluster: String
    public var createdAt: Date
    public var expiresAt: Date
    /// When it was redeemed; nil while unused.
    public var usedAt: Date?

    public init(hash: String, cluster: String, createdAt: Date, expiresAt: Date, usedAt: Date? = nil) {
        self.hash = hash
        self.cluster = cluster
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}

/// The desired state of meshrelay and what the agents reported about it.
///
/// Every mutation is one transaction that is durably committed before the call returns. Each
/// mutation that changes anything bumps the global revision by exactly one; all resources changed
/// by it carry that revision as their `resourceVersion`. The revision never goes backwards, across
/// restarts and compactions included.
public protocol ResourceStore: Sendable {
    /// Creates or updates resources, all or nothing. A resource identical to the stored one
    /// (spec, labels and annotations) is `unchanged`; when every resource is unchanged, the
    /// revision does not move.
    /// - Parameter resources: Validated resources; server-owned metadata in them is ignored.
    /// - Throws: ``StoreError`` if the transaction could not be committed (nothing is stored).
    func apply(_ resources: [Resource]) async throws -> ApplyResult

    /// Deletes resources, writing a tombstone for each in the change log and dropping their
    /// per-cluster status. Keys with nothing stored are reported `deleted: false`.
    func delete(_ keys: [ResourceKey]) async throws -> DeleteResult

    /// One resource, or `nil`.
    func get(_ key: ResourceKey) async throws -> StoredResource?

    /// Resources of one kind (or all kinds), in one namespace (or all), ordered by kind, namespace,
    /// name.
    func list(kind: ResourceKind?, namespace: String?) async throws -> [StoredResource]

    /// The current global revision (0 for an empty, new store).
    func revision() async throws -> Int64

    /// Everything that changed after `revision`, in one read transaction, or `.snapshotRequired`
    /// when `revision` is older than the compacted horizon.
    func changes(since revision: Int64) async throws -> ChangesSince

    /// Drops change-log entries (tombstones included) so that at most `retaining` revisions
    /// remain; returns the new compacted horizon (requests at or after it still get deltas).
    func compact(retaining: Int64) async throws -> Int64

    /// The compacted horizon: `changes(since: r)` needs `r >= compactedRevision()`.
    func compactedRevision() async throws -> Int64

    /// Creates or replaces clusters' connection records, all in one transaction (the last record
    /// of a cluster wins).
    func saveClusterStatuses(_ records: [ClusterStatusRecord]) async throws

    /// Every cluster connection record, ordered by name.
    func clusterStatuses() async throws -> [ClusterStatusRecord]

    /// Marks a cluster disconnected (`connected` false, `lastSeen` and `updatedAt` = `at`) only
    /// if its record still names `server` as the replica holding the session: a replica that
    /// notices a lost session late must not overwrite the record of the replica the agent moved
    /// to. Returns whether the record changed.
    @discardableResult
    func markDisconnected(cluster: String, server: String, at: Date) async throws -> Bool

    /// Records agents' per-resource outcomes, in one transaction. Only exceptions are kept:
    /// a `FAILED` or `WARNING` record creates or replaces the row of its cluster and resource
    /// (a row whose state, message and observed generation are unchanged is left as it is: its
    /// `revision` and `updatedAt` keep saying when that outcome was first recorded); an `APPLIED`
    /// record removes that row, if any. `APPLIED` is what a cluster's applied revision already
    /// says (docs/architecture.md, "Status"): storing it per resource and cluster was a row per
    /// agent per write. Rows of resources that no longer exist are not created.
    func saveResourceStatuses(_ records: [ResourceStatusRecord]) async throws

    /// The kept per-resource rows (exceptions: `FAILED`, `WARNING`), of one cluster or all,
    /// ordered by cluster then key.
    func resourceStatuses(cluster: String?) async throws -> [ResourceStatusRecord]

    /// The revision of the latest change to what decides which clusters a resource goes to (an
    /// apply or delete that changed a `Workspace` or `KubernetesCluster`); 0 for none. A cluster
    /// whose applied revision is at least this and at least a resource's `resourceVersion` holds
    /// that resource's current version, if it is meant for the cluster.
    func viewRevision() async throws -> Int64

    /// Checks that the store can be read (for `/readyz`).
    func checkHealth() async throws

    /// Stores a new bootstrap token (its hash).
    func saveBootstrapToken(_ record: BootstrapTokenRecord) async throws

    /// Redeems a token in one transaction: true only if a token with this hash exists, belongs
    /// to `cluster`, is unused and has not expired at `now`; it is then marked used, so a second
    /// redemption (also a concurrent one) fails.
    func redeemBootstrapToken(hash: String, cluster: String, now: Date) async throws -> Bool
}

/// A store several server replicas share (PostgreSQL): what a replica needs beyond
/// ``ResourceStore`` to learn about other replicas' writes and to share singleton duties.
public protocol SharedStore: ResourceStore {
    /// Calls `onRevision` with the store's revision whenever another writer may have moved it:
    /// on each change notification, and at least every `pollInterval` (a missed notification is
    /// recovered by the poll). Runs until the task is cancelled; store failures are logged and
    /// retried, never thrown.
    func watchRevisions(pollInterval: Duration, onRevision: @escaping @Sendable (Int64) -> Void) async

    /// Runs `duties` while this process holds the store's singleton lease (one holder at a time
    /// among every replica). Returns `false` at once when another replica holds it; otherwise
    /// runs `duties` with a function that says whether the lease is still held, and releases the
    /// lease when `duties` returns or the store connection holding it breaks.
    func withSingletonLease(_ duties: @Sendable (_ stillHeld: @Sendable () async -> Bool) async throws -> Void) async throws -> Bool

    /// Records that replica `id` is alive at `at` (its heartbeat).
    func recordReplicaHeartbeat(id: String, at: Date) async throws

    /// Expiry (a singleton duty): marks disconnected the clusters whose session is held by a
    /// replica not heard from since `before`, forgets such replicas after a day, and drops
    /// bootstrap tokens that expired a week ago. Returns the clusters marked disconnected.
    func expireStale(before: Date, now: Date) async throws -> [String]
}

extension ResourceStore {
    /// Creates or replaces a cluster's connection record.
    public func saveClusterStatus(_ record: ClusterStatusRecord) async throws {
        try await saveClusterStatuses([record])
    }
}
