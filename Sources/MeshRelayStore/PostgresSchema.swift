import Foundation

/// The PostgreSQL schema of ``PostgresStore`` and its migrations.
///
/// Applied migrations are recorded in `meshrelay_migrations`. A migration, once released, is
/// never edited: schema changes are new entries appended to ``migrations``. Every migration runs
/// in its own transaction holding ``migrationLock``, so replicas starting at the same time migrate
/// once.
///
/// Same semantics as the SQLite schema (docs/architecture.md): the revision lives in `meta` and is
/// bumped under that row's lock, so commits are totally ordered by revision; timestamps are
/// `double precision` seconds since 1970 UTC; JSON columns hold compact JSON with sorted keys.
/// Text keys use the "C" collation: listings come out in byte order, as with SQLite.
enum PostgresSchema {
    /// `pg_advisory_xact_lock` key held while migrating ("mr" 0001).
    static let migrationLock: Int64 = 0x6D72_0001
    /// `pg_try_advisory_lock` key of the singleton lease ("mr" 0002).
    static let singletonLock: Int64 = 0x6D72_0002
    /// The LISTEN/NOTIFY channel on which every committed revision is announced.
    static let changesChannel = "meshrelay_changes"

    /// Identifiers and statements of every migration this binary knows, in order (the
    /// extended query protocol runs one statement at a time; no statement holds a `;`).
    static let migrations: [(id: String, statements: [String])] = [
        ("v1", statements(v1)),
        ("v2-derived-applied-status", statements(v2)),
    ]

    private static func statements(_ script: String) -> [String] {
        script.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    static let createMigrationsTable = """
        CREATE TABLE IF NOT EXISTS meshrelay_migrations (
            id TEXT PRIMARY KEY,
            applied_at DOUBLE PRECISION NOT NULL
        )
        """

    /// `APPLIED` is derived from each cluster's applied revision instead of a row per resource
    /// and cluster (as SQLite's `v4-derived-applied-status`): those rows go, each cluster keeps
    /// its recent steps, and the view revision starts at the current revision.
    private static let v2 = """
        ALTER TABLE cluster_status ADD COLUMN applied_steps TEXT;
        DELETE FROM resource_status WHERE state = 'APPLIED';
        INSERT INTO meta (key, value) SELECT 'view_revision', value FROM meta WHERE key = 'revision'
        """

    private static let v1 = """
        CREATE TABLE meta (
            key TEXT COLLATE "C" PRIMARY KEY,
            value BIGINT NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('revision', 0), ('compacted_revision', 0);

        CREATE TABLE resources (
            kind TEXT COLLATE "C" NOT NULL,
            namespace TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            uid TEXT NOT NULL UNIQUE,
            labels TEXT,
            annotations TEXT,
            spec TEXT NOT NULL,
            generation BIGINT NOT NULL CHECK (generation >= 1),
            resource_version BIGINT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (kind, namespace, name)
        );

        CREATE TABLE changes (
            revision BIGINT NOT NULL,
            kind TEXT COLLATE "C" NOT NULL,
            namespace TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
            PRIMARY KEY (revision, kind, namespace, name)
        );

        CREATE TABLE cluster_status (
            cluster TEXT COLLATE "C" PRIMARY KEY,
            connected BOOLEAN NOT NULL,
            last_seen DOUBLE PRECISION,
            applied_revision BIGINT NOT NULL,
            agent_version TEXT,
            outbound_policy TEXT,
            server TEXT,
            updated_at DOUBLE PRECISION NOT NULL,
            data_plane_state TEXT,
            data_plane_message TEXT
        );

        -- A status row cannot outlive its resource: the insert locks the resource row (FOR KEY
        -- SHARE) and the foreign key drops the rows with it.
        CREATE TABLE resource_status (
            cluster TEXT COLLATE "C" NOT NULL,
            kind TEXT COLLATE "C" NOT NULL,
            namespace TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            state TEXT NOT NULL,
            message TEXT NOT NULL,
            observed_generation BIGINT NOT NULL,
            revision BIGINT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (cluster, kind, namespace, name),
            FOREIGN KEY (kind, namespace, name) REFERENCES resources (kind, namespace, name) ON DELETE CASCADE
        );
        CREATE INDEX resource_status_by_resource ON resource_status (kind, namespace, name);

        CREATE TABLE bootstrap_tokens (
            hash TEXT PRIMARY KEY,
            cluster TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            used_at DOUBLE PRECISION
        );

        -- Server replicas' heartbeats: a cluster whose session is held by a replica not heard from
        -- is marked disconnected by the expiry duty.
        CREATE TABLE server_replicas (
            id TEXT PRIMARY KEY,
            started_at DOUBLE PRECISION NOT NULL,
            last_seen DOUBLE PRECISION NOT NULL
        );
        """
}
