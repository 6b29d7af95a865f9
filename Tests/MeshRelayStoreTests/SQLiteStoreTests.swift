import Foundation
import GRDB
import MeshRelayModel
import MeshRelayStore
import Testing

@Suite("SQLiteStore: the database file")
struct DatabaseFileTests {
    @Test func journalModeIsWALAndCommitsAreSynchronous() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(in: directory)
            let diagnostics = try await store.diagnostics()
            #expect(diagnostics.journalMode == "wal")
            #expect(diagnostics.synchronous == 2)  // FULL
            #expect(diagnostics.foreignKeys)
            #expect(diagnostics.appliedMigrations == SQLiteStore.knownMigrations)
            #expect(!diagnostics.sqliteVersion.isEmpty)
            _ = try await store.apply([externalService("a")])

            // A second, independent connection sees WAL mode (it is persistent in the file) and
            // the committed data.
            let raw = try DatabaseQueue(path: store.path)
            let (journalMode, revision, specs, upserts) = try await raw.read { db in
                (
                    try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                    try Int.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'"),
                    try String.fetchAll(db, sql: "SELECT spec FROM resources"),
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM changes WHERE op = 'upsert'")
                )
            }
            #expect(journalMode == "wal")
            #expect(revision == 1)
            #expect(specs.count == 1)
            #expect(upserts == 1)
            try raw.close()
            try store.close()
        }
    }

    @Test func aFileFromANewerVersionIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            do {
                let store = try openStore(in: directory)
                _ = try await store.apply([externalService("a")])
                try store.close()
            }
            do {
                let raw = try DatabaseQueue(path: databasePath(in: directory))
                try await raw.write { db in
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v999-from-the-future')")
                }
                try raw.close()
            }
            let error = #expect(throws: StoreError.self) { try openStore(in: directory) }
            #expect(error?.code == .migration)
            #expect(error?.message.contains("newer meshrelay") == true)
            #expect(error?.message.contains("v999-from-the-future") == true)
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefused() async throws {
        try await withTemporaryDirectory { directory in
            let path = databasePath(in: directory)
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true
            )
            try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
            let error = #expect(throws: StoreError.self) { try openStore(in: directory) }
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains(path) == true)
        }
    }

    @Test func missingParentDirectoriesAreCreated() async throws {
        try await withTemporaryDirectory { directory in
            let path = directory.appendingPathComponent("one/two/three/meshrelay.db").path
            let store = try SQLiteStore(path: path, logger: testLogger)
            #expect(FileManager.default.fileExists(atPath: path))
            try await store.checkHealth()
            try store.close()
        }
    }

    @Test func anUnusablePathSaysWhatToDo() async throws {
        try await withTemporaryDirectory { directory in
            // The parent "directory" is a regular file: creating it fails, whatever the user.
            let blocker = directory.appendingPathComponent("blocker")
            try Data("x".utf8).write(to: blocker)
            let error = #expect(throws: StoreError.self) {
                try SQLiteStore(path: blocker.appendingPathComponent("meshrelay.db").path, logger: testLogger)
            }
            #expect(error?.code == .cannotOpen)
            #expect(error?.message.contains("--data-dir") == true)
        }
    }

    @Test func closedStoreFailsWithAStoreError() async throws {
        try await withTemporaryDirectory { directory in
            let store = try openStore(in: directory)
            try store.close()
            await #expect(throws: StoreError.self) { try await store.revision() }
        }
    }
}

