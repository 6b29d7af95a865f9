public import Foundation
public import Logging
public import MeshRelayModel
import NIOSSL
import PostgresNIO
import Synchronization

/// A ``ResourceStore`` in PostgreSQL (postgres-nio), shared by several server replicas.
///
/// - Same semantics as ``SQLiteStore``: every mutation is one transaction; a mutation that
///   changes anything bumps the revision by exactly one. The revision is a row of `meta` updated
///   under its row lock (not a bare sequence: a sequence hands numbers out before commit, so two
///   writers could commit out of order and a reader between them would miss the lower revision
///   for good). Writers are therefore serialised and commit in revision order.
/// - Durable acknowledgement: a call returns after `COMMIT`, which PostgreSQL acknowledges once
///   the commit record is flushed (`synchronous_commit = on`, the default; the store refuses to
///   open when it is off).
/// - Each committed revision is announced with `NOTIFY meshrelay_changes, '<revision>'`
///   (delivered at commit); ``watchRevisions(pollInterval:onRevision:)`` also polls the revision,
///   so nothing depends on a notification arriving.
/// - Every call is bounded by `operationTimeout`: when PostgreSQL is unreachable a call fails
///   with ``StoreError`` `.io` (the API answers 503) instead of waiting for the pool.
public final class PostgresStore: SharedStore {
    public let location: PostgresLocation
    private let client: PostgresClient
    private let runTask: Task<Void, Never>
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let operationTimeout: Duration
    private let cache = DecodedResourceCache()

    /// Migrations this binary knows, in order.
    public static var knownMigrations: [String] { PostgresSchema.migrations.map(\.id) }

    private init(location: PostgresLocation, client: PostgresClient, runTask: Task<Void, Never>, logger: Logger, now: @escaping @Sendable () -> Date, operationTimeout: Duration) {
        self.location = location
        self.client = client
        self.runTask = runTask
        self.logger = logger
        self.now = now
        self.operationTimeout = operationTimeout
    }

    /// Connects, checks the server, and migrates the schema.
    /// - Parameters:
    ///   - location: The database.
    ///   - logger: Where the store logs opening, migrations, compaction and lost connections.
    ///   - now: The clock for `created_at`/`updated_at` (tests inject one).
    ///   - operationTimeout: The most any one call may take (default 10 s).
    ///   - maximumConnections: The pool's size (default 16).
    /// - Throws: ``StoreError`` `.cannotOpen` (unreachable, authentication, no such database,
    ///   `synchronous_commit` off) or `.migration` (newer schema, failed migration).
    public static func open(
        _ location: PostgresLocation, logger: Logger, now: @escaping @Sendable () -> Date = { Date() },
        operationTimeout: Duration = .seconds(10), maximumConnections: Int = 16
    ) async throws -> PostgresStore {
        let tls: PostgresClient.Configuration.TLS =
            switch location.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: tls
        )
        configuration.options.maximumConnections = max(2, maximumConnections)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.keepAliveBehavior = .init(frequency: .seconds(10))
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        let client = PostgresClient(configuration: configuration, backgroundLogger: background)
        let runTask = Task { await client.run() }
        let store = PostgresStore(location: location, client: client, runTask: runTask, logger: logger, now: now, operationTimeout: operationTimeout)
        do {
            let settings = try await store.perform("connecting") { [client] in
                try await collect(client.query("SELECT current_setting('server_version'), current_setting('synchronous_commit')", logger: logger), as: (String, String).self)
            }
            guard let (version, synchronousCommit) = settings.first else {
                throw StoreError(.cannotOpen, "PostgreSQL at \(location) answered no settings")
            }
            guard synchronousCommit != "off" else {
                throw StoreError(
                    .cannotOpen,
                    "PostgreSQL at \(location) runs with synchronous_commit = off: an acknowledged write could be lost in a crash; set it to on (or remote_apply/remote_write) for this database"
                )
            }
            try await store.migrate()
            let revision = try await store.revision()
            logger.info("store opened", metadata: ["store": "\(location)", "revision": "\(revision)", "postgresql": "\(version)"])
        } catch let error as StoreError where error.code == .io {
            store.close()
            throw StoreError(.cannotOpen, error.message)
        } catch {
            store.close()
            throw error
        }
        return store
    }

    /// Closes the pool. Later calls fail with ``StoreError``.
    public func close() {
        runTask.cancel()
    }

    deinit {
        runTask.cancel()
    }

    // MARK: - Resources

    public func apply(_ resources: [Resource]) async throws -> ApplyResult {
        let encoded = try StoreCoding.encodeBatch(resources)
        let timestamp = StoreCoding.timestamp(now())
        let logger = self.logger
        let result = try await perform("apply") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                let current = try await Self.lockRevision(connection, logger: logger)
                let next = current + 1
                var existing: [ResourceKey: StoreCoding.Existing] = [:]
                let rows = try await connection.query(
                    """
                    SELECT r.kind, r.namespace, r.name, r.uid, r.labels, r.annotations, r.spec, r.generation, r.resource_version
                    FROM resources AS r
                    JOIN unnest(\(encoded.map(\.key.kind.rawValue))::text[], \(encoded.map(\.key.namespace))::text[], \(encoded.map(\.key.name))::text[])
                        AS u(kind, namespace, name)
                    ON r.kind = u.kind AND r.namespace = u.namespace AND r.name = u.name
                    """, logger: logger
                )
                for try await (kind, namespace, name, uid, labels, annotations, spec, generation, version) in rows.decode(
                    (String, String, String, String, String?, String?, String, Int64, Int64).self
                ) {
                    let key = ResourceKey(kind: try StoreCoding.kind(kind), namespace: namespace, name: name)
                    existing[key] = StoreCoding.Existing(
                        uid: uid, labels: labels, annotations: annotations, spec: spec, generation: generation, resourceVersion: version
                    )
                }
                let (plans, changed) = StoreCoding.plan(encoded, existing: { existing[$0] }, next: next)
                guard changed > 0 else {
                    return (ApplyResult(revision: current, outcomes: plans.map(\.outcome)), 0)
                }
                let created = plans.filter { $0.existing == nil }
                let configured = plans.filter { $0.existing != nil && $0.outcome.action == .configured }
                if !created.isEmpty {
                    // NULL labels/annotations travel as '' (never valid JSON) through the arrays.
                    try await connection.query(
                        """
                        INSERT INTO resources (kind, namespace, name, uid, labels, annotations, spec, generation, resource_version, created_at, updated_at)
                        SELECT kind, namespace, name, uid, NULLIF(labels, ''), NULLIF(annotations, ''), spec, 1, \(next), \(timestamp), \(timestamp)
                        FROM unnest(\(created.map(\.item.key.kind.rawValue))::text[], \(created.map(\.item.key.namespace))::text[],
                                    \(created.map(\.item.key.name))::text[], \(created.map { _ in UUID().uuidString.lowercased() })::text[],
                                    \(created.map { $0.item.labels ?? "" })::text[], \(created.map { $0.item.annotations ?? "" })::text[],
                                    \(created.map(\.item.spec))::text[])
                            AS u(kind, namespace, name, uid, labels, annotations, spec)
                        """, logger: logger
                    )
                }
                if !configured.isEmpty {
                    try await connection.query(
                        """
                        UPDATE resources AS r SET labels = NULLIF(u.labels, ''), annotations = NULLIF(u.annotations, ''), spec = u.spec,
                            generation = u.generation, resource_version = \(next), updated_at = \(timestamp)
                        FROM unnest(\(configured.map(\.item.key.kind.rawValue))::text[], \(configured.map(\.item.key.namespace))::text[],
                                    \(configured.map(\.item.key.name))::text[], \(configured.map { $0.item.labels ?? "" })::text[],
                                    \(configured.map { $0.item.annotations ?? "" })::text[], \(configured.map(\.item.spec))::text[],
                                    \(configured.map(\.outcome.generation))::bigint[])
                            AS u(kind, namespace, name, labels, annotations, spec, generation)
                        WHERE r.kind = u.kind AND r.namespace = u.namespace AND r.name = u.name
                        """, logger: logger
                    )
                }
                let logged = created + configured
                try await Self.logChanges(
                    connection, revision: next, op: "upsert", keys: logged.map(\.item.key), logger: logger
                )
                if logged.contains(where: { !$0.item.key.kind.isDistributed }) {
                    try await Self.moveViewRevision(connection, next, logger: logger)
                }
                try await Self.commitRevision(connection, next, logger: logger)
                return (ApplyResult(revision: next, outcomes: plans.map(\.outcome)), changed)
            }
        }
        if result.1 > 0 {
            logger.debug("applied", metadata: ["revision": "\(result.0.revision)", "changed": "\(result.1)"])
        }
        return result.0
    }

    public func delete(_ keys: [ResourceKey]) async throws -> DeleteResult {
        let logger = self.logger
        return try await perform("delete") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                let current = try await Self.lockRevision(connection, logger: logger)
                let next = current + 1
                let rows = try await connection.query(
                    """
                    DELETE FROM resources AS r
                    USING unnest(\(keys.map(\.kind.rawValue))::text[], \(keys.map(\.namespace))::text[], \(keys.map(\.name))::text[])
                        AS u(kind, namespace, name)
                    WHERE r.kind = u.kind AND r.namespace = u.namespace AND r.name = u.name
                    RETURNING r.kind, r.namespace, r.name
                    """, logger: logger
                )
                var deleted = Set<ResourceKey>()
                for try await (kind, namespace, name) in rows.decode((String, String, String).self) {
                    deleted.insert(ResourceKey(kind: try StoreCoding.kind(kind), namespace: namespace, name: name))
                }
                var reported = Set<ResourceKey>()
                let outcomes = keys.map { key in
                    DeleteOutcome(key: key, deleted: deleted.contains(key) && reported.insert(key).inserted)
                }
                guard !deleted.isEmpty else {
                    return DeleteResult(revision: current, outcomes: outcomes)
                }
                // Status rows go with their resource (ON DELETE CASCADE).
                let ordered = outcomes.filter(\.deleted).map(\.key)
                try await Self.logChanges(connection, revision: next, op: "delete", keys: ordered, logger: logger)
                if ordered.contains(where: { !$0.kind.isDistributed }) {
                    try await Self.moveViewRevision(connection, next, logger: logger)
                }
                try await Self.commitRevision(connection, next, logger: logger)
                return DeleteResult(revision: next, outcomes: outcomes)
            }
        }
    }

    public func get(_ key: ResourceKey) async throws -> StoredResource? {
        let logger = self.logger
        return try await perform("get") { [client] in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.resourceColumns) FROM resources AS r
                WHERE r.kind = \(key.kind.rawValue) AND r.namespace = \(key.namespace) AND r.name = \(key.name)
                """, logger: logger
            )
            let decoder = JSONDecoder()
            for try await row in rows.decode(ResourceRow.self) {
                return try Self.resource(row, decoder: decoder)
            }
            return nil
        }
    }

    public func list(kind: ResourceKind?, namespace: String?) async throws -> [StoredResource] {
        let logger = self.logger
        let cache = self.cache
        let listed = try await perform("list") { [client] in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.resourceColumns) FROM resources AS r
                WHERE (\(kind?.rawValue)::text IS NULL OR r.kind = \(kind?.rawValue))
                  AND (\(namespace)::text IS NULL OR r.namespace = \(namespace))
                ORDER BY \(unescaped: StoreCoding.kindOrder("r.kind")), r.namespace, r.name
                """, logger: logger
            )
            let decoder = JSONDecoder()
            var listing = CachedListing(cache: cache)
            for try await row in rows.decode(ResourceRow.self) {
                let key = ResourceKey(kind: try StoreCoding.kind(row.0), namespace: row.1, name: row.2)
                try listing.add(key, uid: row.3, resourceVersion: row.8) { try Self.resource(row, decoder: decoder) }
            }
            return listing.finish()
        }
        if kind == nil && namespace == nil {
            cache.replaceAll(with: listed)
        }
        return listed
    }

    public func revision() async throws -> Int64 {
        let logger = self.logger
        return try await perform("reading the revision") { [client] in
            try await Self.readMeta(client.query("SELECT value FROM meta WHERE key = 'revision'", logger: logger), "revision")
        }
    }

    public func changes(since revision: Int64) async throws -> ChangesSince {
        let logger = self.logger
        return try await perform("reading changes") { [client] in
            try await client.withTransaction(logger: logger) { connection -> ChangesSince in
                // One snapshot for the revision, the horizon and the log.
                try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
                var current: Int64 = 0
                var compacted: Int64 = 0
                let meta = try await connection.query("SELECT key, value FROM meta", logger: logger)
                for try await (key, value) in meta.decode((String, Int64).self) {
                    if key == "revision" { current = value }
                    if key == "compacted_revision" { compacted = value }
                }
                guard revision >= compacted else {
                    return .snapshotRequired(compactedRevision: compacted, revision: current)
                }
                let rows = try await connection.query(
                    """
                    SELECT c.kind, c.namespace, c.name, r.uid, r.labels, r.annotations, r.spec, r.generation,
                           r.resource_version, r.created_at, r.updated_at, c.last_revision
                    FROM (SELECT kind, namespace, name, MAX(revision) AS last_revision
                          FROM changes WHERE revision > \(revision) GROUP BY kind, namespace, name) AS c
                    LEFT JOIN resources AS r ON r.kind = c.kind AND r.namespace = c.namespace AND r.name = c.name
                    ORDER BY \(unescaped: StoreCoding.kindOrder("c.kind")), c.namespace, c.name
                    """, logger: logger
                )
                let decoder = JSONDecoder()
                var upserts: [StoredResource] = []
                var tombstones: [Tombstone] = []
                for try await row in rows.decode(
                    (String, String, String, String?, String?, String?, String?, Int64?, Int64?, Double?, Double?, Int64).self
                ) {
                    let key = ResourceKey(kind: try StoreCoding.kind(row.0), namespace: row.1, name: row.2)
                    if let uid = row.3, let spec = row.6, let generation = row.7, let version = row.8, let created = row.9, let updated = row.10 {
                        upserts.append(
                            try StoreCoding.resource(
                                key: key, uid: uid, labels: row.4, annotations: row.5, spec: spec, generation: generation,
                                resourceVersion: version, createdAt: created, updatedAt: updated, decoder: decoder
                            )
                        )
                    } else {
                        tombstones.append(Tombstone(key: key, revision: row.11))
                    }
                }
                return .changes(ChangeSet(since: revision, revision: current, upserts: upserts, tombstones: tombstones))
            }
        }
    }

    public func compact(retaining: Int64) async throws -> Int64 {
        guard retaining >= 0 else {
            throw StoreError(.invalidInput, "cannot retain \(retaining) revisions; pass 0 or more")
        }
        let logger = self.logger
        let (horizon, dropped) = try await perform("compaction") { [client] in
            try await client.withTransaction(logger: logger) { connection -> (Int64, Int) in
                let compacted = try await Self.readMeta(
                    connection.query("SELECT value FROM meta WHERE key = 'compacted_revision' FOR UPDATE", logger: logger), "compacted_revision"
                )
                let current = try await Self.readMeta(connection.query("SELECT value FROM meta WHERE key = 'revision'", logger: logger), "revision")
                let horizon = max(compacted, current - retaining)
                let deleted = try await connection.query("DELETE FROM changes WHERE revision <= \(horizon) RETURNING 1", logger: logger)
                var dropped = 0
                for try await _ in deleted { dropped += 1 }
                if horizon != compacted {
                    try await connection.query("UPDATE meta SET value = \(horizon) WHERE key = 'compacted_revision'", logger: logger)
                }
                return (horizon, dropped)
            }
        }
        logger.info("change log compacted", metadata: ["horizon": "\(horizon)", "droppedEntries": "\(dropped)"])
        return horizon
    }

    public func compactedRevision() async throws -> Int64 {
        let logger = self.logger
        return try await perform("reading the compacted revision") { [client] in
            try await Self.readMeta(client.query("SELECT value FROM meta WHERE key = 'compacted_revision'", logger: logger), "compacted_revision")
        }
    }

    // MARK: - Status

    public func saveClusterStatuses(_ records: [ClusterStatusRecord]) async throws {
        guard !records.isEmpty else { return }
        let logger = self.logger
        try await perform("saving cluster status") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                for record in records {
                    try await Self.saveClusterStatus(record, on: connection, logger: logger)
                }
            }
        }
    }

    private static func saveClusterStatus(_ record: ClusterStatusRecord, on connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            INSERT INTO cluster_status
                (cluster, connected, last_seen, applied_revision, agent_version, outbound_policy, server, updated_at,
                 data_plane_state, data_plane_message, applied_steps)
            VALUES (\(record.cluster), \(record.connected), \(record.lastSeen.map(StoreCoding.timestamp)), \(record.appliedRevision),
                    \(record.agentVersion), \(record.outboundPolicy), \(record.server), \(StoreCoding.timestamp(record.updatedAt)),
                    \(record.dataPlaneState), \(record.dataPlaneMessage), \(StoreCoding.appliedStepsText(record.appliedSteps)))
            ON CONFLICT (cluster) DO UPDATE SET
                connected = excluded.connected, last_seen = excluded.last_seen,
                applied_revision = excluded.applied_revision, agent_version = excluded.agent_version,
                outbound_policy = excluded.outbound_policy, server = excluded.server,
                updated_at = excluded.updated_at, data_plane_state = excluded.data_plane_state,
                data_plane_message = excluded.data_plane_message, applied_steps = excluded.applied_steps
            """, logger: logger
        )
    }

    public func clusterStatuses() async throws -> [ClusterStatusRecord] {
        let logger = self.logger
        return try await perform("reading cluster status") { [client] in
            let rows = try await client.query(
                """
                SELECT cluster, connected, last_seen, applied_revision, agent_version, outbound_policy, server, updated_at,
                    data_plane_state, data_plane_message, applied_steps
                FROM cluster_status ORDER BY cluster
                """, logger: logger
            )
            var result: [ClusterStatusRecord] = []
            for try await row in rows.decode((String, Bool, Double?, Int64, String?, String?, String?, Double, String?, String?, String?).self) {
                result.append(
                    ClusterStatusRecord(
                        cluster: row.0, connected: row.1, lastSeen: row.2.map(StoreCoding.date), appliedRevision: row.3,
                        agentVersion: row.4, outboundPolicy: row.5, server: row.6, updatedAt: StoreCoding.date(row.7),
                        dataPlaneState: row.8, dataPlaneMessage: row.9,
                        appliedSteps: try StoreCoding.appliedSteps(row.10, cluster: row.0)
                    )
                )
            }
            return result
        }
    }

    @discardableResult
    public func markDisconnected(cluster: String, server: String, at: Date) async throws -> Bool {
        let logger = self.logger
        let seconds = StoreCoding.timestamp(at)
        return try await perform("saving cluster status") { [client] in
            let rows = try await client.query(
                """
                UPDATE cluster_status SET connected = false, last_seen = \(seconds), updated_at = \(seconds)
                WHERE cluster = \(cluster) AND server = \(server) RETURNING 1
                """, logger: logger
            )
            var changed = false
            for try await _ in rows { changed = true }
            return changed
        }
    }

    /// Exceptions (FAILED, WARNING) are upserted, APPLIED removes the row (only in clusters that
    /// have rows: one probe per cluster, not a delete per record).
    public func saveResourceStatuses(_ records: [ResourceStatusRecord]) async throws {
        let records = StoreCoding.lastPerRow(records)
        guard !records.isEmpty else { return }
        let exceptions = records.filter { $0.state != .applied }
        let applied = records.filter { $0.state == .applied }
        let logger = self.logger
        try await perform("saving resource status") { [client] in
            try await client.withTransaction(logger: logger) { connection in
                if !applied.isEmpty {
                    let clusters = Array(Set(applied.map(\.cluster)))
                    let withRows = Set(
                        try await collect(
                            connection.query(
                                """
                                SELECT c FROM unnest(\(clusters)::text[]) AS c
                                WHERE EXISTS (SELECT 1 FROM resource_status WHERE cluster = c)
                                """, logger: logger
                            ), as: String.self
                        )
                    )
                    let cleared = applied.filter { withRows.contains($0.cluster) }
                    if !cleared.isEmpty {
                        try await connection.query(
                            """
                            DELETE FROM resource_status AS s
                            USING unnest(\(cleared.map(\.cluster))::text[], \(cleared.map(\.key.kind.rawValue))::text[],
                                         \(cleared.map(\.key.namespace))::text[], \(cleared.map(\.key.name))::text[])
                                AS u(cluster, kind, namespace, name)
                            WHERE s.cluster = u.cluster AND s.kind = u.kind AND s.namespace = u.namespace AND s.name = u.name
                            """, logger: logger
                        )
                    }
                }
                guard !exceptions.isEmpty else { return }
                // The join locks each resource row (FOR KEY SHARE): a delete running at the same
                // time either goes first (the row is skipped) or waits.
                try await connection.query(
                    """
                    WITH live AS (
                        SELECT u.cluster, u.kind, u.namespace, u.name, u.state, u.message, u.observed_generation, u.revision, u.updated_at
                        FROM unnest(\(exceptions.map(\.cluster))::text[], \(exceptions.map(\.key.kind.rawValue))::text[],
                                    \(exceptions.map(\.key.namespace))::text[], \(exceptions.map(\.key.name))::text[],
                                    \(exceptions.map(\.state.rawValue))::text[], \(exceptions.map(\.message))::text[],
                                    \(exceptions.map(\.observedGeneration))::bigint[], \(exceptions.map(\.revision))::bigint[],
                                    \(exceptions.map { StoreCoding.timestamp($0.updatedAt) })::float8[])
                            AS u(cluster, kind, namespace, name, state, message, observed_generation, revision, updated_at)
                        JOIN resources AS r ON r.kind = u.kind AND r.namespace = u.namespace AND r.name = u.name
                        FOR KEY SHARE OF r
                    )
                    INSERT INTO resource_status (cluster, kind, namespace, name, state, message, observed_generation, revision, updated_at)
                    SELECT * FROM live
                    ON CONFLICT (cluster, kind, namespace, name) DO UPDATE SET
                        state = excluded.state, message = excluded.message,
                        observed_generation = excluded.observed_generation, revision = excluded.revision,
                        updated_at = excluded.updated_at
                    WHERE resource_status.state IS DISTINCT FROM excluded.state
                        OR resource_status.message IS DISTINCT FROM excluded.message
                        OR resource_status.observed_generation IS DISTINCT FROM excluded.observed_generation
                    """, logger: logger
                )
            }
        }
    }

    public func resourceStatuses(cluster: String?) async throws -> [ResourceStatusRecord] {
        let logger = self.logger
        return try await perform("reading resource status") { [client] in
            let rows = try await client.query(
                """
                SELECT cluster, kind, namespace, name, state, message, observed_generation, revision, updated_at
                FROM resource_status WHERE (\(cluster)::text IS NULL OR cluster = \(cluster))
                ORDER BY cluster, \(unescaped: StoreCoding.kindOrder("kind")), namespace, name
                """, logger: logger
            )
            var result: [ResourceStatusRecord] = []
            for try await row in rows.decode((String, String, String, String, String, String, Int64, Int64, Double).self) {
                let key = ResourceKey(kind: try StoreCoding.kind(row.1), namespace: row.2, name: row.3)
                result.append(
                    ResourceStatusRecord(
                        cluster: row.0, key: key, state: try StoreCoding.state(row.4, key: key, cluster: row.0), message: row.5,
                        observedGeneration: row.6, revision: row.7, updatedAt: StoreCoding.date(row.8)
                    )
                )
            }
            return result
        }
    }

    public func viewRevision() async throws -> Int64 {
        let logger = self.logger
        return try await perform("reading the view revision") { [client] in
            try await Self.readMeta(client.query("SELECT value FROM meta WHERE key = 'view_revision'", logger: logger), "view_revision")
        }
    }

    public func checkHealth() async throws {
        _ = try await revision()
    }

    // MARK: - Bootstrap tokens

    public func saveBootstrapToken(_ record: BootstrapTokenRecord) async throws {
        let logger = self.logger
        try await perform("saving a bootstrap token") { [client] in
            try await client.query(
                """
                INSERT INTO bootstrap_tokens (hash, cluster, created_at, expires_at, used_at)
                VALUES (\(record.hash), \(record.cluster), \(StoreCoding.timestamp(record.createdAt)), \(StoreCoding.timestamp(record.expiresAt)),
                        \(record.usedAt.map(StoreCoding.timestamp)))
                """, logger: logger
            )
        }
    }

    public func redeemBootstrapToken(hash: String, cluster: String, now: Date) async throws -> Bool {
        let logger = self.logger
        let seconds = StoreCoding.timestamp(now)
        return try await perform("redeeming a bootstrap token") { [client] in
            let rows = try await client.query(
                """
                UPDATE bootstrap_tokens SET used_at = \(seconds)
                WHERE hash = \(hash) AND cluster = \(cluster) AND used_at IS NULL AND expires_at > \(seconds)
                RETURNING 1
                """, logger: logger
            )
            var redeemed = false
            for try await _ in rows { redeemed = true }
            return redeemed
        }
    }

    // MARK: - Shared between replicas

    public func watchRevisions(pollInterval: Duration, onRevision: @escaping @Sendable (Int64) -> Void) async {
        let logger = self.logger
        let client = self.client
        await withTaskGroup(of: Void.self) { group in
            // Notifications: one pooled connection LISTENs; re-listens after a broken connection.
            group.addTask {
                var failures = 0
                while !Task.isCancelled {
                    do {
                        try await client.withConnection { connection in
                            try await connection.listen(on: PostgresSchema.changesChannel) { notifications in
                                if failures > 0 { logger.notice("store notifications restored", metadata: ["store": "\(self.location)"]) }
                                failures = 0
                                for try await notification in notifications {
                                    if let revision = Int64(notification.payload) { onRevision(revision) }
                                }
                            }
                        }
                    } catch is CancellationError {
                        return
                    } catch {
                        if Task.isCancelled { return }
                        failures += 1
                        if failures == 1 {
                            logger.warning(
                                "store notifications lost; polling the revision until they are back",
                                metadata: ["store": "\(self.location)", "error": "\(Self.describe(error))"]
                            )
                        }
                    }
                    try? await Task.sleep(for: .milliseconds(min(5_000, 250 * (1 << min(failures, 5)))))
                }
            }
            // The poll: every interval, whatever the notifications did.
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: pollInterval)
                    if Task.isCancelled { return }
                    if let revision = try? await self.revision() { onRevision(revision) }
                }
            }
            await group.waitForAll()
        }
    }

    public func withSingletonLease(_ duties: @Sendable (_ stillHeld: @Sendable () async -> Bool) async throws -> Void) async throws -> Bool {
        let logger = self.logger
        let lock = PostgresSchema.singletonLock
        return try await client.withConnection { connection in
            let acquired = try await collect(connection.query("SELECT pg_try_advisory_lock(\(lock))", logger: logger), as: Bool.self)
            guard acquired.first == true else { return false }
            let stillHeld: @Sendable () async -> Bool = {
                // A session-level advisory lock lives as long as its session, and this code only
                // unlocks it at the end: a query that still runs on the session proves the lock.
                do {
                    return try await collect(connection.query("SELECT 1", logger: logger), as: Int32.self) == [1]
                } catch {
                    logger.warning("the singleton lease's connection broke; this replica stops its singleton duties", metadata: ["error": "\(Self.describe(error))"])
                    return false
                }
            }
            do {
                try await duties(stillHeld)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(lock))", logger: logger)
                throw error
            }
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(lock))", logger: logger)
            return true
        }
    }

    public func recordReplicaHeartbeat(id: String, at: Date) async throws {
        let logger = self.logger
        let seconds = StoreCoding.timestamp(at)
        try await perform("recording the replica heartbeat") { [client] in
            try await client.query(
                """
                INSERT INTO server_replicas (id, started_at, last_seen) VALUES (\(id), \(seconds), \(seconds))
                ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen
                """, logger: logger
            )
        }
    }

    public func expireStale(before: Date, now: Date) async throws -> [String] {
        let logger = self.logger
        let cutoff = StoreCoding.timestamp(before)
        let seconds = StoreCoding.timestamp(now)
        return try await perform("expiring stale sessions") { [client] in
            try await client.withTransaction(logger: logger) { connection -> [String] in
                let rows = try await connection.query(
                    """
                    UPDATE cluster_status AS c SET connected = false, updated_at = \(seconds),
                        last_seen = COALESCE((SELECT s.last_seen FROM server_replicas AS s WHERE s.id = c.server), c.last_seen)
                    WHERE c.connected AND NOT EXISTS (
                        SELECT 1 FROM server_replicas AS s WHERE s.id = c.server AND s.last_seen >= \(cutoff))
                    RETURNING c.cluster
                    """, logger: logger
                )
                var expired: [String] = []
                for try await cluster in rows.decode(String.self) { expired.append(cluster) }
                try await connection.query("DELETE FROM server_replicas WHERE last_seen < \(seconds - 86_400)", logger: logger)
                try await connection.query("DELETE FROM bootstrap_tokens WHERE expires_at < \(seconds - 7 * 86_400)", logger: logger)
                return expired.sorted()
            }
        }
    }

    // MARK: - Helpers

    /// The columns ``ResourceRow`` reads, from `resources` aliased `r`.
    static let resourceColumns =
        "r.kind, r.namespace, r.name, r.uid, r.labels, r.annotations, r.spec, r.generation, r.resource_version, r.created_at, r.updated_at"
    typealias ResourceRow = (String, String, String, String, String?, String?, String, Int64, Int64, Double, Double)

    static func resource(_ row: ResourceRow, decoder: JSONDecoder) throws -> StoredResource {
        try StoreCoding.resource(
            key: ResourceKey(kind: try StoreCoding.kind(row.0), namespace: row.1, name: row.2), uid: row.3, labels: row.4,
            annotations: row.5, spec: row.6, generation: row.7, resourceVersion: row.8, createdAt: row.9, updatedAt: row.10, decoder: decoder
        )
    }

    /// Takes the revision row's lock (writers queue here, so they commit in revision order).
    private static func lockRevision(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        try await readMeta(connection.query("SELECT value FROM meta WHERE key = 'revision' FOR UPDATE", logger: logger), "revision")
    }

    /// Sets the revision and announces it (delivered at commit).
    private static func commitRevision(_ connection: PostgresConnection, _ revision: Int64, logger: Logger) async throws {
        try await connection.query("UPDATE meta SET value = \(revision) WHERE key = 'revision'", logger: logger)
        try await connection.query("SELECT pg_notify(\(PostgresSchema.changesChannel), \(String(revision)))", logger: logger)
    }

    /// Records `revision` as the latest change to what decides clusters' views.
    private static func moveViewRevision(_ connection: PostgresConnection, _ revision: Int64, logger: Logger) async throws {
        try await connection.query("UPDATE meta SET value = \(revision) WHERE key = 'view_revision'", logger: logger)
    }

    private static func logChanges(_ connection: PostgresConnection, revision: Int64, op: String, keys: [ResourceKey], logger: Logger) async throws {
        guard !keys.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO changes (revision, kind, namespace, name, op)
            SELECT \(revision), kind, namespace, name, \(op)
            FROM unnest(\(keys.map(\.kind.rawValue))::text[], \(keys.map(\.namespace))::text[], \(keys.map(\.name))::text[])
                AS u(kind, namespace, name)
            """, logger: logger
        )
    }

    private static func readMeta(_ rows: PostgresRowSequence, _ key: String) async throws -> Int64 {
        guard let value = try await collect(rows, as: Int64.self).first else {
            throw StoreError(.corrupt, "the database has no \(key) in its meta table; restore a backup")
        }
        return value
    }

    /// Runs the missing migrations, each in a transaction holding the migration lock; refuses a
    /// database migrated by a newer meshrelay.
    private func migrate() async throws {
        let logger = self.logger
        let known = PostgresSchema.migrations.map(\.id)
        let location = self.location
        try await perform("migrating the schema", timeout: .seconds(120)) { [client] in
            // Under the lock too: two replicas creating the table at once collide in the catalog.
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: PostgresSchema.createMigrationsTable), logger: logger)
            }
            var applied: [String] = []
            for migration in PostgresSchema.migrations {
                let ran = try await client.withTransaction(logger: logger) { connection -> Bool in
                    try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.migrationLock))", logger: logger)
                    let recorded = Set(try await collect(connection.query("SELECT id FROM meshrelay_migrations", logger: logger), as: String.self))
                    let unknown = recorded.subtracting(known)
                    guard unknown.isEmpty else {
                        throw StoreError(
                            .migration,
                            "the database \(location) was migrated by a newer meshrelay (unknown schema migrations: \(unknown.sorted().joined(separator: ", "))); run that version or a newer one"
                        )
                    }
                    guard !recorded.contains(migration.id) else { return false }
                    for statement in migration.statements {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO meshrelay_migrations (id, applied_at) VALUES (\(migration.id), \(Date().timeIntervalSince1970))", logger: logger
                    )
                    return true
                }
                if ran { applied.append(migration.id) }
            }
            if !applied.isEmpty {
                logger.info("database schema migrated", metadata: ["store": "\(location)", "migrations": "\(applied.joined(separator: ","))"])
            }
        }
    }

    /// Runs one store operation within the timeout, translating failures into ``StoreError``.
    /// (A statement's row sequence may be dropped unread: postgres-nio releases its connection.)
    @discardableResult
    private func perform<T: Sendable>(_ action: String, timeout: Duration? = nil, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let limit = timeout ?? operationTimeout
        let location = self.location
        do {
            return try await Self.withDeadline(limit, body) {
                StoreError(
                    .io,
                    "\(action) did not finish within \(limit) on PostgreSQL at \(location); nothing was changed unless it reports so later; check that PostgreSQL runs and answers"
                )
            }
        } catch {
            throw Self.translate(error, action: action, location: location)
        }
    }

    /// Runs `body`, returning (or throwing `timedOut()`) at the latest after `limit`. Unlike a
    /// task group, which waits for its children even after cancelling them, the caller does not
    /// wait for an operation that ignores cancellation (a query on a connection PostgreSQL is
    /// tearing down): `body` is cancelled and finishes on its own.
    static func withDeadline<T: Sendable>(
        _ limit: Duration, _ body: @escaping @Sendable () async throws -> T, timedOut: @escaping @Sendable () -> any Error
    ) async throws -> T {
        let race = DeadlineRace<T>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.continuation.withLock { $0 = continuation }
            let work = Task {
                do {
                    _ = race.finish(.success(try await body()))
                } catch {
                    _ = race.finish(.failure(error))
                }
            }
            Task {
                try? await Task.sleep(for: limit)
                if race.finish(.failure(timedOut())) { work.cancel() }
            }
        }
    }

    /// Turns any failure into a ``StoreError`` that says what to do.
    static func translate(_ error: any Error, action: String, location: PostgresLocation) -> any Error {
        if error is StoreError || error is CancellationError { return error }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.beginError ?? error.commitError {
                return translate(inner, action: action, location: location)
            }
        }
        guard let error = error as? PSQLError else {
            return StoreError(.io, "\(action) failed on PostgreSQL at \(location): \(error)")
        }
        if error.code == .server, let info = error.serverInfo {
            let state = info[.sqlState] ?? ""
            let message = info[.message] ?? "(no message)"
            switch state.prefix(2) {
            case "08", "57", "53":
                return StoreError(.io, "\(action): PostgreSQL at \(location) is unavailable (\(state) \(message)); check that it runs and accepts connections")
            case "28":
                return StoreError(.cannotOpen, "\(action): PostgreSQL at \(location) refused the credentials (\(message)); check the user and password in --store")
            case "3D":
                return StoreError(.cannotOpen, "\(action): \(message) on PostgreSQL at \(location); create it (createdb) or fix the database in --store")
            default:
                return StoreError(.io, "\(action) failed on PostgreSQL at \(location): \(state) \(message)")
            }
        }
        return StoreError(.io, "\(action): cannot reach PostgreSQL at \(location) (\(describe(error))); check that it runs and that --store is right")
    }

    /// What a postgres-nio error says (its `description` is deliberately generic).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        var parts = ["\(error.code)"]
        if let message = error.serverInfo?[.message] { parts.append(message) }
        if let underlying = error.underlying { parts.append("\(underlying)") }
        return parts.joined(separator: ": ")
    }
}

/// Every row of `rows`, decoded.
private func collect<T: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, as type: T.Type) async throws -> [T] {
    var result: [T] = []
    for try await value in rows.decode(T.self) { result.append(value) }
    return result
}

private func collect<each Column: PostgresDecodable & Sendable>(_ rows: PostgresRowSequence, as type: (repeat each Column).Type) async throws -> [(repeat each Column)] {
    var result: [(repeat each Column)] = []
    for try await value in rows.decode(type) { result.append(value) }
    return result
}

/// The caller's continuation of ``PostgresStore/withDeadline(_:_:timedOut:)``, resumed once by
/// whichever of the operation and the deadline comes first.
final class DeadlineRace<T: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    /// Resumes the caller with `result` if nothing did yet; whether this call did.
    func finish(_ result: Result<T, any Error>) -> Bool {
        guard let continuation = continuation.withLock({ current -> CheckedContinuation<T, any Error>? in
            defer { current = nil }
            return current
        }) else { return false }
        continuation.resume(with: result)
        return true
    }
}
