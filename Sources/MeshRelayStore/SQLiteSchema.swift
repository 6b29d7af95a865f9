import GRDB
import MeshRelayModel

/// The SQLite schema of ``SQLiteStore`` and its migrations.
///
/// GRDB's `DatabaseMigrator` records applied migrations in its `grdb_migrations` table, which is
/// the schema version table. A migration, once released, is never edited: schema changes are new
/// migrations appended to ``migrator``.
enum SQLiteSchema {
    /// Identifiers of the migrations this binary knows, in order.
    static var knownMigrations: [String] { migrator.migrations }

    /// The migrator holding every schema migration, in order.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1", migrate: createV1)
        migrator.registerMigration("v2-bootstrap-tokens", migrate: createBootstrapTokens)
        migrator.registerMigration("v3-data-plane-health", migrate: addDataPlaneHealth)
        migrator.registerMigration("v4-derived-applied-status", migrate: deriveAppliedStatus)
        return migrator
    }()

    /// Keys of the `meta` table.
    enum MetaKey {
        /// The global revision: bumped by one by each apply or delete that changes anything.
        static let revision = "revision"
        /// The change-log horizon: `changes` rows at or below it were compacted away.
        static let compactedRevision = "compacted_revision"
        /// The revision of the latest change to a Workspace or KubernetesCluster.
        static let viewRevision = "view_revision"
    }

    /// `APPLIED` is derived from each cluster's applied revision instead of a row per resource
    /// and cluster (docs/architecture.md, "Status"): those rows go, each cluster keeps its recent
    /// steps (when a revision was first held), and the view revision starts at the current
    /// revision (which Workspace changes came before is not known; later than true only delays
    /// APPLIED until the next step of each cluster).
    private static func deriveAppliedStatus(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE cluster_status ADD COLUMN applied_steps TEXT;
                DELETE FROM resource_status WHERE state = 'APPLIED';
                INSERT INTO meta (key, value) SELECT '\(MetaKey.viewRevision)', value FROM meta WHERE key = '\(MetaKey.revision)';
                """
        )
    }

    /// Agents' enrolment tokens: the SHA-256 of each (never the token), its cluster, expiry, use.
    /// What the agent reports about its data plane (HELLO, HEARTBEAT); NULL = not reported.
    private static func addDataPlaneHealth(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE cluster_status ADD COLUMN data_plane_state TEXT;
                ALTER TABLE cluster_status ADD COLUMN data_plane_message TEXT;
                """
        )
    }

    private static func createBootstrapTokens(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE bootstrap_tokens (
                    hash TEXT NOT NULL PRIMARY KEY,
                    cluster TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    expires_at REAL NOT NULL,
                    used_at REAL
                );
                """
        )
    }

    // Timestamps are REAL seconds since 1970-01-01 UTC (`datetime(col, 'unixepoch')` reads them).
    // JSON columns hold compact JSON with sorted keys; `labels`/`annotations` are NULL when absent.
    private static func createV1(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE meta (
                    key TEXT NOT NULL PRIMARY KEY,
                    value INTEGER NOT NULL
                );
                INSERT INTO meta (key, value) VALUES ('\(MetaKey.revision)', 0), ('\(MetaKey.compactedRevision)', 0);

                CREATE TABLE resources (
                    kind TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    name TEXT NOT NULL,
                    uid TEXT NOT NULL UNIQUE,
                    labels TEXT,
                    annotations TEXT,
                    spec TEXT NOT NULL,
                    generation INTEGER NOT NULL CHECK (generation >= 1),
                    resource_version INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    PRIMARY KEY (kind, namespace, name)
                );

                -- The change log. Clustered on the primary key, whose leading column is the
                -- revision: "revision > R" is a range scan of the table itself, no extra index.
                CREATE TABLE changes (
                    revision INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    name TEXT NOT NULL,
                    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
                    PRIMARY KEY (revision, kind, namespace, name)
                ) WITHOUT ROWID;

                CREATE TABLE cluster_status (
                    cluster TEXT NOT NULL PRIMARY KEY,
                    connected INTEGER NOT NULL,
                    last_seen REAL,
                    applied_revision INTEGER NOT NULL,
                    agent_version TEXT,
                    outbound_policy TEXT,
                    server TEXT,
                    updated_at REAL NOT NULL
                );

                CREATE TABLE resource_status (
                    cluster TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    namespace TEXT NOT NULL,
                    name TEXT NOT NULL,
                    state TEXT NOT NULL,
                    message TEXT NOT NULL,
                    observed_generation INTEGER NOT NULL,
                    revision INTEGER NOT NULL,
                    updated_at REAL NOT NULL,
                    PRIMARY KEY (cluster, kind, namespace, name)
                );
                -- Deleting a resource drops its status rows in every cluster.
                CREATE INDEX resource_status_by_resource ON resource_status (kind, namespace, name);
                """
        )
    }

    static func kindOrder(_ column: String) -> String { StoreCoding.kindOrder(column) }
}
