public import Foundation
import GRDB
import Synchronization
public import Logging
public import MeshRelayModel

/// Facts about an open ``SQLiteStore`` database, for diagnostics and tests.
public struct SQLiteDiagnostics: Sendable, Hashable {
    /// `PRAGMA journal_mode`: always `wal` for an open store.
    public var journalMode: String
    /// `PRAGMA synchronous` of the connections: 2 (`FULL`), so a commit is on disk when it returns.
    public var synchronous: Int
    /// `PRAGMA foreign_keys`.
    public var foreignKeys: Bool
    /// Schema migrations recorded in the file, in the order this binary knows them.
    public var appliedMigrations: [String]
    /// The version of the SQLite library in use (the system `libsqlite3`).
    public var sqliteVersion: String

    /// Creates a value; the store fills it in ``SQLiteStore/diagnostics()``.
    public init(journalMode: String, synchronous: Int, foreignKeys: Bool, appliedMigrations: [String], sqliteVersion: String) {
        self.journalMode = journalMode
        self.synchronous = synchronous
        self.foreignKeys = foreignKeys
        self.appliedMigrations = appliedMigrations
        self.sqliteVersion = sqliteVersion
    }
}

/// A ``ResourceStore`` in one SQLite file (system `libsqlite3` through GRDB).
///
/// - The file is in WAL mode: reads run concurrently with the single writer, and each read runs
///   in one transaction, so it sees one consistent revision.
/// - Every connection runs `PRAGMA synchronous = FULL`: a mutation is durable on disk when its
///   call returns (a `kill -9` right after loses nothing).
/// - The schema is migrated on open. A file whose recorded migrations include some this binary
///   does not know (written by a newer meshrelay) is refused with ``StoreError/Code/migration``.
/// - The global revision lives in the `meta` table, not derived from other tables: it survives
///   restarts, deletions and compaction, and never decreases.
/// - Change log compaction: after ``compact(retaining:)`` returns horizon `H`, `changes(since: r)`
///   answers with deltas for every `r >= H` and `.snapshotRequired` for `r < H`.
public final class SQLiteStore: ResourceStore {
    /// The database file.
    public let path: String
    private let pool: DatabasePool
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let cache = DecodedResourceCache()
    /// Applies waiting for the writer (``apply(_:)``).
    private let pendingApplies = Mutex(ApplyQueue())

    /// Schema migrations this binary knows, in order (recorded in the file's `grdb_migrations`).
    public static var knownMigrations: [String] { SQLiteSchema.knownMigrations }

    /// Opens (or creates) the store at `path`, creating its parent directory if missing, and
    /// migrates the schema.
    /// - Parameters:
    ///   - path: The database file, e.g. `<data-dir>/meshrelay.db`. SQLite keeps `-wal` and
    ///     `-shm` files next to it.
    ///   - logger: Where the store logs opening, migrations and compaction.
    ///   - now: The clock used for `created_at`/`updated_at` (tests may inject one).
    /// - Throws: ``StoreError`` with code `.cannotOpen` (directory or file not usable, not WAL
    ///   capable), `.corrupt` (not a database) or `.migration` (newer file, failed migration).
    public init(path: String, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.path = path
        self.logger = logger
        self.now = now

        guard !path.isEmpty else {
            throw StoreError(.cannotOpen, "the database path is empty; pass a --data-dir")
        }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                .cannotOpen,
                "cannot create the directory \(directory) for the database: \(error.localizedDescription); check the --data-dir permissions"
            )
        }

        var configuration = Configuration()
        configuration.label = "meshrelay"
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }

        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch let error as DatabaseError where error.resultCode == .SQLITE_NOTADB || error.resultCode == .SQLITE_CORRUPT {
            throw StoreError(
                .corrupt,
                "cannot open database at \(path): \(error.message ?? "\(error.resultCode)"); the file is not a meshrelay database or is damaged, move it away or restore a backup"
            )
        } catch {
            throw StoreError(
                .cannotOpen,
                "cannot open database at \(path): \(Self.describe(error)); check the --data-dir permissions and free space"
            )
        }

        let journalMode: String
        do {
            journalMode = try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") } ?? ""
        } catch {
            throw StoreError(.cannotOpen, "cannot read the database at \(path): \(Self.describe(error)); check the --data-dir permissions")
        }
        guard journalMode.lowercased() == "wal" else {
            throw StoreError(
                .cannotOpen,
                "the database at \(path) is in journal mode \"\(journalMode)\", not WAL; put --data-dir on a local filesystem that supports WAL"
            )
        }

        try Self.migrate(pool, path: path, logger: logger)

        let (revision, version): (Int64, String)
        do {
            (revision, version) = try pool.read { db in
                (try Self.readMeta(db, SQLiteSchema.MetaKey.revision), try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? "")
            }
        } catch {
            throw SQLiteCoding.translate(error, action: "opening", path: path)
        }
        logger.info("store opened", metadata: ["path": "\(path)", "revision": "\(revision)", "sqlite": "\(version)"])
    }

    /// Closes the database connections. Later calls fail with ``StoreError``. Optional: the
    /// connections also close when the store is released.
    public func close() throws {
        do {
            try pool.close()
        } catch {
            throw SQLiteCoding.translate(error, action: "closing", path: path)
        }
    }

    /// Journal mode, synchronous level, foreign keys, migrations and SQLite version, read through
    /// one of the store's own connections.
    public func diagnostics() async throws -> SQLiteDiagnostics {
        try await perform("reading diagnostics") {
            try await pool.read { db in
                SQLiteDiagnostics(
                    journalMode: try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "",
                    synchronous: try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1,
                    foreignKeys: try Bool.fetchOne(db, sql: "PRAGMA foreign_keys") ?? false,
                    appliedMigrations: try SQLiteSchema.migrator.appliedMigrations(db),
                    sqliteVersion: try String.fetchOne(db, sql: "SELECT sqlite_version()") ?? ""
                )
            }
        }
    }

    // MARK: - Resources

    /// Creates or updates resources in one write transaction. See ``ResourceStore/apply(_:)``.
    ///
    /// The same key twice in `resources` throws ``StoreError/Code/invalidInput`` and stores
    /// nothing. Labels and annotations compare as written: an absent map and an empty one differ.
    ///
    /// Applies that arrive while the writer is busy are committed together (group commit): each
    /// in its own savepoint, with its own revision and result, one transaction and one `fsync`
    /// for all of them; each caller still returns only after that commit. Under a stream of
    /// writes (and agents' status commits) one transaction per apply made the writer the limit.
    public func apply(_ resources: [Resource]) async throws -> ApplyResult {
        let encoded = try StoreCoding.encodeBatch(resources)
        let timestamp = SQLiteCoding.timestamp(now())
        let result = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<(result: ApplyResult, changed: Int), any Error>) in
            let startsDraining = pendingApplies.withLock { queue -> Bool in
                queue.waiting.append(PendingApply(input: encoded, timestamp: timestamp, continuation: continuation))
                guard !queue.draining else { return false }
                queue.draining = true
                return true
            }
            if startsDraining {
                Task { await self.commitPendingApplies() }
            }
        }
        if result.changed > 0 {
            logger.debug("applied", metadata: ["revision": "\(result.result.revision)", "changed": "\(result.changed)"])
        }
        return result.result
    }

    private struct PendingApply: Sendable {
        var input: [StoreCoding.EncodedResource]
        var timestamp: Double
        var continuation: CheckedContinuation<(result: ApplyResult, changed: Int), any Error>
    }

    private struct ApplyQueue: Sendable {
        var waiting: [PendingApply] = []
        var draining = false
    }

    /// Commits the waiting applies, batch after batch, until none is left.
    private func commitPendingApplies() async {
        while true {
            let batch = pendingApplies.withLock { queue -> [PendingApply] in
                let batch = queue.waiting
                queue.waiting = []
                if batch.isEmpty { queue.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let outcomes = try await perform("apply") {
                    try await pool.write { db in
                        batch.map { item -> Result<(result: ApplyResult, changed: Int), any Error> in
                            // A failing apply rolls back to its savepoint; the others commit.
                            var outcome: Result<(result: ApplyResult, changed: Int), any Error> = .failure(StoreError(.io, "apply did not run"))
                            do {
                                try db.inSavepoint {
                                    outcome = .success(try Self.apply(item.input, at: item.timestamp, db))
                                    return .commit
                                }
                            } catch {
                                outcome = .failure(error)
                            }
                            return outcome
                        }
                    }
                }
                for (item, outcome) in zip(batch, outcomes) {
                    item.continuation.resume(with: outcome.mapError { SQLiteCoding.translate($0, action: "apply", path: path) })
                }
            } catch {
                for item in batch { item.continuation.resume(throwing: error) }
            }
        }
    }

    /// Deletes resources in one write transaction. See ``ResourceStore/delete(_:)``.
    ///
    /// A key listed twice is deleted once: its second outcome is `deleted: false`.
    public func delete(_ keys: [ResourceKey]) async throws -> DeleteResult {
        let result = try await perform("delete") {
            try await pool.write { db in try Self.delete(keys, db) }
        }
        logger.debug("deleted", metadata: ["revision": "\(result.revision)", "count": "\(result.outcomes.count { $0.deleted })"])
        return result
    }

    /// One resource, or `nil`.
    public func get(_ key: ResourceKey) async throws -> StoredResource? {
        try await perform("get") {
            try await pool.read { db in
                let statement = try db.cachedStatement(
                    sql: "SELECT \(SQLiteCoding.resourceColumns) FROM resources AS r WHERE r.kind = ? AND r.namespace = ? AND r.name = ?"
                )
                guard let row = try Row.fetchOne(statement, arguments: [key.kind.rawValue, key.namespace, key.name]) else {
                    return nil
                }
                return try SQLiteCoding.decodeResource(row, decoder: JSONDecoder())
            }
        }
    }

    /// Resources of one kind (or all kinds), in one namespace (or all), in ``ResourceKey`` order:
    /// kind in `ResourceKind.applyOrder` (clusters, workspaces, endpoints, services), then
    /// namespace, then name (byte order).
    public func list(kind: ResourceKind?, namespace: String?) async throws -> [StoredResource] {
        var conditions: [String] = []
        var arguments: [String] = []
        if let kind {
            conditions.append("r.kind = ?")
            arguments.append(kind.rawValue)
        }
        if let namespace {
            conditions.append("r.namespace = ?")
            arguments.append(namespace)
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = """
            SELECT \(SQLiteCoding.resourceColumns) FROM resources AS r \(filter)
            ORDER BY \(SQLiteSchema.kindOrder("r.kind")), r.namespace, r.name
            """
        let statementArguments = StatementArguments(arguments)
        return try await perform("list") {
            let cache = self.cache
            let listed = try await pool.read { db in
                let decoder = JSONDecoder()
                var listing = CachedListing(cache: cache)
                let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: statementArguments)
                while let row = try rows.next() {
                    let key = try SQLiteCoding.decodeKey(row)
                    let uid: String = try row.decode(String.self, atIndex: 3)
                    let version: Int64 = try row.decode(Int64.self, atIndex: 8)
                    try listing.add(key, uid: uid, resourceVersion: version) { try SQLiteCoding.decodeResource(row, decoder: decoder) }
                }
                return listing.finish()
            }
            if kind == nil && namespace == nil {
                cache.replaceAll(with: listed)
            }
            return listed
        }
    }

    /// The current global revision (0 for a new store).
    public func revision() async throws -> Int64 {
        try await perform("reading the revision") {
            try await pool.read { db in try Self.readMeta(db, SQLiteSchema.MetaKey.revision) }
        }
    }

    /// Everything that changed after `revision`, read in one transaction.
    ///
    /// `.snapshotRequired` when `revision < compactedRevision()`. Otherwise each key with a
    /// change-log entry after `revision` appears once: as an upsert with its current state when it
    /// is stored, else as a tombstone carrying its latest deletion's revision. Both lists are in
    /// ``ResourceKey`` order. A `revision` ahead of the store gives an empty change set.
    public func changes(since revision: Int64) async throws -> ChangesSince {
        try await perform("reading changes") {
            try await pool.read { db in
                let current = try Self.readMeta(db, SQLiteSchema.MetaKey.revision)
                let compacted = try Self.readMeta(db, SQLiteSchema.MetaKey.compactedRevision)
                guard revision >= compacted else {
                    return .snapshotRequired(compactedRevision: compacted, revision: current)
                }
                let statement = try db.cachedStatement(
                    sql: """
                        SELECT c.kind, c.namespace, c.name, r.uid, r.labels, r.annotations, r.spec, r.generation,
                               r.resource_version, r.created_at, r.updated_at, c.last_revision
                        FROM (SELECT kind, namespace, name, MAX(revision) AS last_revision
                              FROM changes WHERE revision > ? GROUP BY kind, namespace, name) AS c
                        LEFT JOIN resources AS r ON r.kind = c.kind AND r.namespace = c.namespace AND r.name = c.name
                        ORDER BY \(SQLiteSchema.kindOrder("c.kind")), c.namespace, c.name
                        """
                )
                let decoder = JSONDecoder()
                var upserts: [StoredResource] = []
                var tombstones: [Tombstone] = []
                let rows = try Row.fetchCursor(statement, arguments: [revision])
                while let row = try rows.next() {
                    if row.hasNull(atIndex: 3) {
                        let key = try SQLiteCoding.decodeKey(row)
                        tombstones.append(Tombstone(key: key, revision: try row.decode(Int64.self, atIndex: SQLiteCoding.resourceColumnCount)))
                    } else {
                        upserts.append(try SQLiteCoding.decodeResource(row, decoder: decoder))
                    }
                }
                return .changes(ChangeSet(since: revision, revision: current, upserts: upserts, tombstones: tombstones))
            }
        }
    }

    /// Compacts the change log: the new horizon is `max(compactedRevision, revision - retaining)`;
    /// change-log rows (tombstones included) at or below it are dropped. Afterwards
    /// `changes(since: r)` gives deltas for every `r >= horizon` and `.snapshotRequired` below.
    /// The revision itself does not move.
    /// - Parameter retaining: How many of the latest revisions keep their change-log entries;
    ///   0 drops the whole log. Negative values throw ``StoreError/Code/invalidInput``.
    /// - Returns: The new horizon.
    public func compact(retaining: Int64) async throws -> Int64 {
        guard retaining >= 0 else {
            throw StoreError(.invalidInput, "cannot retain \(retaining) revisions; pass 0 or more")
        }
        let (horizon, dropped) = try await perform("compaction") {
            try await pool.write { db in
                let current = try Self.readMeta(db, SQLiteSchema.MetaKey.revision)
                let compacted = try Self.readMeta(db, SQLiteSchema.MetaKey.compactedRevision)
                let horizon = max(compacted, current - retaining)
                try db.execute(sql: "DELETE FROM changes WHERE revision <= ?", arguments: [horizon])
                let dropped = db.changesCount
                if horizon != compacted {
                    try Self.writeMeta(db, SQLiteSchema.MetaKey.compactedRevision, horizon)
                }
                return (horizon, dropped)
            }
        }
        logger.info("change log compacted", metadata: ["horizon": "\(horizon)", "droppedEntries": "\(dropped)"])
        return horizon
    }

    /// The compaction horizon: `changes(since: r)` needs `r >= compactedRevision()`.
    public func compactedRevision() async throws -> Int64 {
        try await perform("reading the compacted revision") {
            try await pool.read { db in try Self.readMeta(db, SQLiteSchema.MetaKey.compactedRevision) }
        }
    }

    // MARK: - Status

    /// Creates or replaces clusters' connection records in one transaction.
    public func saveClusterStatuses(_ records: [ClusterStatusRecord]) async throws {
        guard !records.isEmpty else { return }
        try await perform("saving cluster status") {
            try await pool.write { db in
                let statement = try db.cachedStatement(
                    sql: """
                        INSERT INTO cluster_status
                            (cluster, connected, last_seen, applied_revision, agent_version, outbound_policy, server, updated_at,
                             data_plane_state, data_plane_message, applied_steps)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        ON CONFLICT (cluster) DO UPDATE SET
                            connected = excluded.connected, last_seen = excluded.last_seen,
                            applied_revision = excluded.applied_revision, agent_version = excluded.agent_version,
                            outbound_policy = excluded.outbound_policy, server = excluded.server,
                            updated_at = excluded.updated_at, data_plane_state = excluded.data_plane_state,
                            data_plane_message = excluded.data_plane_message, applied_steps = excluded.applied_steps
                        """
                )
                for record in records {
                    try statement.execute(arguments: [
                        record.cluster, record.connected, record.lastSeen.map(SQLiteCoding.timestamp),
                        record.appliedRevision, record.agentVersion, record.outboundPolicy, record.server,
                        SQLiteCoding.timestamp(record.updatedAt), record.dataPlaneState, record.dataPlaneMessage,
                        StoreCoding.appliedStepsText(record.appliedSteps),
                    ])
                }
            }
        }
    }

    /// Every cluster connection record, ordered by cluster name.
    public func clusterStatuses() async throws -> [ClusterStatusRecord] {
        try await perform("reading cluster status") {
            try await pool.read { db in
                let rows = try Row.fetchCursor(
                    db.cachedStatement(
                        sql: """
                            SELECT cluster, connected, last_seen, applied_revision, agent_version, outbound_policy, server, updated_at,
                                data_plane_state, data_plane_message, applied_steps
                            FROM cluster_status ORDER BY cluster
                            """
                    )
                )
                var result: [ClusterStatusRecord] = []
                while let row = try rows.next() {
                    result.append(try SQLiteCoding.decodeClusterStatus(row))
                }
                return result
            }
        }
    }

    /// Marks a cluster disconnected if `server` still holds its record.
    @discardableResult
    public func markDisconnected(cluster: String, server: String, at: Date) async throws -> Bool {
        try await perform("saving cluster status") {
            try await pool.write { db in
                try db.execute(
                    sql: "UPDATE cluster_status SET connected = 0, last_seen = ?, updated_at = ? WHERE cluster = ? AND server IS ?",
                    arguments: [SQLiteCoding.timestamp(at), SQLiteCoding.timestamp(at), cluster, server]
                )
                return db.changesCount > 0
            }
        }
    }

    /// Records agents' per-resource outcomes in one transaction: exceptions (FAILED, WARNING)
    /// are upserted, APPLIED removes the cluster's row of that resource.
    ///
    /// Rows for resources that are not stored (deleted before the agent's report arrived) are
    /// skipped, so a late report cannot bring back the status of a deleted resource. APPLIED
    /// records of a cluster with no rows cost one indexed probe for the cluster, not one per
    /// record: an initial sync of 10,000 resources to 100 clusters is 1,000,000 of them.
    public func saveResourceStatuses(_ records: [ResourceStatusRecord]) async throws {
        guard !records.isEmpty else { return }
        try await perform("saving resource status") {
            try await pool.write { db in
                let upsert = try db.cachedStatement(
                    sql: """
                        INSERT INTO resource_status
                            (cluster, kind, namespace, name, state, message, observed_generation, revision, updated_at)
                        SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
                        WHERE EXISTS (SELECT 1 FROM resources WHERE kind = ?2 AND namespace = ?3 AND name = ?4)
                        ON CONFLICT (cluster, kind, namespace, name) DO UPDATE SET
                            state = excluded.state, message = excluded.message,
                            observed_generation = excluded.observed_generation, revision = excluded.revision,
                            updated_at = excluded.updated_at
                        WHERE resource_status.state IS NOT excluded.state
                            OR resource_status.message IS NOT excluded.message
                            OR resource_status.observed_generation IS NOT excluded.observed_generation
                        """
                )
                let remove = try db.cachedStatement(
                    sql: "DELETE FROM resource_status WHERE cluster = ? AND kind = ? AND namespace = ? AND name = ?"
                )
                let clusterHasRows = try db.cachedStatement(sql: "SELECT 1 FROM resource_status WHERE cluster = ? LIMIT 1")
                // Whether each cluster has rows, as of the last check: an upsert makes it true.
                var hasRows: [String: Bool] = [:]
                for record in records {
                    if record.state == .applied {
                        let known: Bool
                        if let cached = hasRows[record.cluster] {
                            known = cached
                        } else {
                            known = try Bool.fetchOne(clusterHasRows, arguments: [record.cluster]) ?? false
                            hasRows[record.cluster] = known
                        }
                        guard known else { continue }
                        try remove.execute(arguments: [record.cluster, record.key.kind.rawValue, record.key.namespace, record.key.name])
                    } else {
                        try upsert.execute(arguments: [
                            record.cluster, record.key.kind.rawValue, record.key.namespace, record.key.name,
                            record.state.rawValue, record.message, record.observedGeneration, record.revision,
                            SQLiteCoding.timestamp(record.updatedAt),
                        ])
                        hasRows[record.cluster] = true
                    }
                }
            }
        }
    }

    /// Per-resource status rows of one cluster (or all), ordered by cluster, then ``ResourceKey``.
    public func resourceStatuses(cluster: String?) async throws -> [ResourceStatusRecord] {
        let filter = cluster == nil ? "" : "WHERE cluster = ?"
        let arguments: StatementArguments = cluster.map { [$0] } ?? []
        let sql = """
            SELECT cluster, kind, namespace, name, state, message, observed_generation, revision, updated_at
            FROM resource_status \(filter)
            ORDER BY cluster, \(SQLiteSchema.kindOrder("kind")), namespace, name
            """
        return try await perform("reading resource status") {
            try await pool.read { db in
                let rows = try Row.fetchCursor(db.cachedStatement(sql: sql), arguments: arguments)
                var result: [ResourceStatusRecord] = []
                while let row = try rows.next() {
                    result.append(try SQLiteCoding.decodeResourceStatus(row))
                }
                return result
            }
        }
    }

    /// The revision of the latest change to a Workspace or KubernetesCluster.
    public func viewRevision() async throws -> Int64 {
        try await perform("reading the view revision") {
            try await pool.read { db in try Self.readMeta(db, SQLiteSchema.MetaKey.viewRevision) }
        }
    }

    /// Reads the revision through a pooled connection: fails when the file cannot be read.
    public func checkHealth() async throws {
        _ = try await revision()
    }

    // MARK: - Transactions

    /// The body of the apply transaction. Returns the result and how many resources changed.
    private static func apply(
        _ input: [StoreCoding.EncodedResource], at timestamp: Double, _ db: Database
    ) throws -> (result: ApplyResult, changed: Int) {
        let current = try readMeta(db, SQLiteSchema.MetaKey.revision)
        let next = current + 1

        // Point lookups by primary key through one prepared statement: in-process SQLite has
        // no round trips, so this is the cheapest way to fetch only the rows of the batch.
        let select = try db.cachedStatement(
            sql: """
                SELECT uid, labels, annotations, spec, generation, resource_version
                FROM resources WHERE kind = ? AND namespace = ? AND name = ?
                """
        )
        let (plans, changed) = try StoreCoding.plan(input, existing: { key in
            try Row.fetchOne(select, arguments: [key.kind.rawValue, key.namespace, key.name]).map { row in
                StoreCoding.Existing(
                    uid: try row.decode(String.self, atIndex: 0),
                    labels: try row.decode(String?.self, atIndex: 1),
                    annotations: try row.decode(String?.self, atIndex: 2),
                    spec: try row.decode(String.self, atIndex: 3),
                    generation: try row.decode(Int64.self, atIndex: 4),
                    resourceVersion: try row.decode(Int64.self, atIndex: 5)
                )
            }
        }, next: next)
        guard changed > 0 else {
            return (ApplyResult(revision: current, outcomes: plans.map(\.outcome)), 0)
        }

        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO resources
                    (kind, namespace, name, uid, labels, annotations, spec, generation, resource_version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        let update = try db.cachedStatement(
            sql: """
                UPDATE resources SET labels = ?, annotations = ?, spec = ?, generation = ?, resource_version = ?, updated_at = ?
                WHERE kind = ? AND namespace = ? AND name = ?
                """
        )
        let logChange = try db.cachedStatement(
            sql: "INSERT INTO changes (revision, kind, namespace, name, op) VALUES (?, ?, ?, ?, 'upsert')"
        )
        for plan in plans where plan.outcome.action != .unchanged {
            let item = plan.item
            let kind = item.key.kind.rawValue
            if plan.existing == nil {
                try insert.execute(arguments: [
                    kind, item.key.namespace, item.key.name, UUID().uuidString.lowercased(), item.labels, item.annotations,
                    item.spec, plan.outcome.generation, next, timestamp, timestamp,
                ])
            } else {
                try update.execute(arguments: [
                    item.labels, item.annotations, item.spec, plan.outcome.generation, next, timestamp,
                    kind, item.key.namespace, item.key.name,
                ])
            }
            try logChange.execute(arguments: [next, kind, item.key.namespace, item.key.name])
        }
        try writeMeta(db, SQLiteSchema.MetaKey.revision, next)
        if plans.contains(where: { $0.outcome.action != .unchanged && !$0.item.key.kind.isDistributed }) {
            try writeMeta(db, SQLiteSchema.MetaKey.viewRevision, next)
        }
        return (ApplyResult(revision: next, outcomes: plans.map(\.outcome)), changed)
    }

    /// The body of the delete transaction.
    private static func delete(_ keys: [ResourceKey], _ db: Database) throws -> DeleteResult {
        let current = try readMeta(db, SQLiteSchema.MetaKey.revision)
        let next = current + 1
        let deleteResource = try db.cachedStatement(sql: "DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?")
        let deleteStatus = try db.cachedStatement(
            sql: "DELETE FROM resource_status WHERE kind = ? AND namespace = ? AND name = ?"
        )
        let logChange = try db.cachedStatement(
            sql: "INSERT INTO changes (revision, kind, namespace, name, op) VALUES (?, ?, ?, ?, 'delete')"
        )
        var outcomes: [DeleteOutcome] = []
        outcomes.reserveCapacity(keys.count)
        var deletedAny = false
        var decidesViews = false
        for key in keys {
            let arguments: StatementArguments = [key.kind.rawValue, key.namespace, key.name]
            try deleteResource.execute(arguments: arguments)
            let deleted = db.changesCount > 0
            if deleted {
                deletedAny = true
                decidesViews = decidesViews || !key.kind.isDistributed
                try deleteStatus.execute(arguments: arguments)
                try logChange.execute(arguments: [next, key.kind.rawValue, key.namespace, key.name])
            }
            outcomes.append(DeleteOutcome(key: key, deleted: deleted))
        }
        // Nothing deleted means nothing written: the transaction commits no change.
        if deletedAny {
            try writeMeta(db, SQLiteSchema.MetaKey.revision, next)
        }
        if decidesViews {
            try writeMeta(db, SQLiteSchema.MetaKey.viewRevision, next)
        }
        return DeleteResult(revision: deletedAny ? next : current, outcomes: outcomes)
    }

    // MARK: - Helpers

    private static func readMeta(_ db: Database, _ key: String) throws -> Int64 {
        let statement = try db.cachedStatement(sql: "SELECT value FROM meta WHERE key = ?")
        guard let value = try Int64.fetchOne(statement, arguments: [key]) else {
            throw StoreError(.corrupt, "the database has no \(key) in its meta table; restore a backup")
        }
        return value
    }

    private static func writeMeta(_ db: Database, _ key: String, _ value: Int64) throws {
        try db.cachedStatement(sql: "UPDATE meta SET value = ? WHERE key = ?").execute(arguments: [value, key])
    }

    /// Refuses files written by a newer meshrelay, then runs the missing migrations.
    private static func migrate(_ pool: DatabasePool, path: String, logger: Logger) throws {
        let migrator = SQLiteSchema.migrator
        let before: Set<String>
        do {
            before = try pool.read { db in try migrator.appliedIdentifiers(db) }
        } catch {
            throw StoreError(.migration, "cannot read the schema version of \(path): \(describe(error)); restore a backup")
        }
        let unknown = before.subtracting(migrator.migrations)
        guard unknown.isEmpty else {
            throw StoreError(
                .migration,
                "the database at \(path) was written by a newer meshrelay (unknown schema migrations: \(unknown.sorted().joined(separator: ", "))); run that version or a newer one, or restore a backup made by this version"
            )
        }
        let missing = migrator.migrations.filter { !before.contains($0) }
        guard !missing.isEmpty else { return }
        do {
            try migrator.migrate(pool)
        } catch {
            throw StoreError(
                .migration,
                "migrating the database at \(path) (\(missing.joined(separator: ", "))) failed: \(describe(error)); the failed migration was rolled back; check free space and permissions, then retry"
            )
        }
        logger.info("database schema migrated", metadata: ["path": "\(path)", "migrations": "\(missing.joined(separator: ","))"])
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            return error.message ?? "\(error.resultCode)"
        }
        return "\(error)"
    }

    /// Runs one store operation, translating failures into ``StoreError``.
    public func saveBootstrapToken(_ record: BootstrapTokenRecord) async throws {
        try await perform("saving a bootstrap token") {
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT INTO bootstrap_tokens (hash, cluster, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        record.hash, record.cluster, SQLiteCoding.timestamp(record.createdAt), SQLiteCoding.timestamp(record.expiresAt),
                        record.usedAt.map(SQLiteCoding.timestamp),
                    ]
                )
            }
        }
    }

    public func redeemBootstrapToken(hash: String, cluster: String, now: Date) async throws -> Bool {
        try await perform("redeeming a bootstrap token") {
            try await pool.write { db in
                try db.execute(
                    sql: """
                        UPDATE bootstrap_tokens SET used_at = ?
                        WHERE hash = ? AND cluster = ? AND used_at IS NULL AND expires_at > ?
                        """,
                    arguments: [SQLiteCoding.timestamp(now), hash, cluster, SQLiteCoding.timestamp(now)]
                )
                return db.changesCount == 1
            }
        }
    }

    private func perform<T: Sendable>(_ action: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw SQLiteCoding.translate(error, action: action, path: path)
        }
    }
}
