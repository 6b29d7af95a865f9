import Foundation
import MeshRelayModel
import MeshRelayStore
import MeshRelayTesting
import Synchronization
import Testing

/// What only a shared store does: two stores on one real PostgreSQL database stand for two
/// server replicas.
@Suite("PostgresStore: replicas sharing one database")
struct PostgresStoreTests {
    /// Two stores on one fresh server.
    func withReplicas(_ body: (PostgresStore, PostgresStore, PostgresServer) async throws -> Void) async throws {
        let server = try await PostgresServer.start()
        do {
            try await withStores(on: server, body)
            await server.shutDown()
        } catch {
            await server.shutDown()
            throw error
        }
    }

    private func withStores(on server: PostgresServer, _ body: (PostgresStore, PostgresStore, PostgresServer) async throws -> Void) async throws {
        let location = try PostgresLocation(url: server.url())
        // Opened at the same time: both migrate, under the migration lock, once.
        async let first = PostgresStore.open(location, logger: testLogger, operationTimeout: testStoreTimeout)
        async let second = PostgresStore.open(location, logger: testLogger, operationTimeout: testStoreTimeout)
        let (a, b) = try await (first, second)
        defer {
            a.close()
            b.close()
        }
        try await body(a, b, server)
    }

    @Test func writesThroughTwoReplicasGetOneRevisionEachInCommitOrder() async throws {
        try await withReplicas { a, b, _ in
            let revisions = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<40 {
                    let store = index.isMultiple(of: 2) ? a : b
                    group.addTask { try await store.apply([externalService("s\(index)")]).revision }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(revisions.sorted() == Array(1...40))
            #expect(try await a.revision() == 40)
            #expect(try await b.list(kind: nil, namespace: nil).count == 40)
            // Every revision's change is in the log: a reader at any revision misses nothing.
            for since in stride(from: Int64(0), to: 40, by: 7) {
                let changes = try #require(try await b.changes(since: since).changeSet)
                #expect(changes.upserts.count == Int(40 - since))
            }
        }
    }

    @Test func aReplicaHearsOfTheOthersWritesByNotificationAndByPolling() async throws {
        try await withReplicas { a, b, _ in
            let seen = Mutex<[Int64]>([])
            // A long poll: what arrives within it came by NOTIFY.
            let watcher = Task { await b.watchRevisions(pollInterval: .seconds(3600)) { revision in seen.withLock { $0.append(revision) } } }
            defer { watcher.cancel() }
            try await Task.sleep(for: .milliseconds(300))
            _ = try await a.apply([externalService("one")])
            #expect(await eventually(timeout: .seconds(10)) { seen.withLock { $0.contains(1) } }, "notification")

            // Without notifications (a watcher that only polls) the poll finds the revision.
            let polled = Mutex<[Int64]>([])
            let poller = Task { await b.watchRevisions(pollInterval: .milliseconds(200)) { revision in polled.withLock { $0.append(revision) } } }
            defer { poller.cancel() }
            _ = try await a.apply([externalService("two")])
            #expect(await eventually(timeout: .seconds(10)) { polled.withLock { $0.contains(2) } }, "poll")
        }
    }

    @Test func onlyOneReplicaHoldsTheSingletonLeaseAndItPassesOnWhenTheHolderGoes() async throws {
        try await withReplicas { a, b, _ in
            let release = Mutex(false)
            let holding = Mutex(false)
            let holder = Task {
                try await a.withSingletonLease { stillHeld in
                    holding.withLock { $0 = true }
                    while !release.withLock({ $0 }) {
                        guard await stillHeld() else { return }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
            #expect(await eventually(timeout: .seconds(10)) { holding.withLock { $0 } })
            let bRan = Mutex(false)
            let bGot = try await b.withSingletonLease { _ in bRan.withLock { $0 = true } }
            #expect(!bGot, "b got the lease while a held it")
            #expect(!bRan.withLock { $0 }, "b ran duties while a held the lease")
            release.withLock { $0 = true }
            #expect(try await holder.value == true)
            let ran = Mutex(false)
            #expect(
                try await b.withSingletonLease { stillHeld in
                    let held = await stillHeld()
                    ran.withLock { $0 = held }
                } == true
            )
            #expect(ran.withLock { $0 })

            // The holder's process dies (its connections close): the lease is free again.
            let aHolds = Mutex(false)
            let crashed = Task {
                try await a.withSingletonLease { _ in
                    aHolds.withLock { $0 = true }
                    try await Task.sleep(for: .seconds(3600))
                }
            }
            #expect(await eventually(timeout: .seconds(30)) { aHolds.withLock { $0 } }, "a took the lease again")
            #expect(try await b.withSingletonLease { _ in } == false, "b cannot take it while a holds it")
            crashed.cancel()
            a.close()
            var acquired = false
            for _ in 0..<300 where !acquired {
                acquired = (try? await b.withSingletonLease { _ in }) == true
                if !acquired { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(acquired)
        }
    }

    @Test func expiryMarksDisconnectedTheClustersOfASilentReplicaOnly() async throws {
        try await withReplicas { a, _, _ in
            let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
            try await a.recordReplicaHeartbeat(id: "replica-a", at: now)
            try await a.recordReplicaHeartbeat(id: "replica-b", at: now.addingTimeInterval(-60))
            try await a.saveClusterStatus(ClusterStatusRecord(cluster: "c1", connected: true, server: "replica-a", updatedAt: now))
            try await a.saveClusterStatus(ClusterStatusRecord(cluster: "c2", connected: true, server: "replica-b", updatedAt: now))
            try await a.saveClusterStatus(ClusterStatusRecord(cluster: "c3", connected: true, server: "replica-gone", updatedAt: now))
            #expect(try await a.expireStale(before: now.addingTimeInterval(-15), now: now) == ["c2", "c3"])
            let statuses = try await a.clusterStatuses()
            #expect(statuses.map(\.connected) == [true, false, false])
            #expect(statuses[1].lastSeen == now.addingTimeInterval(-60))
            #expect(try await a.expireStale(before: now.addingTimeInterval(-15), now: now).isEmpty)
        }
    }

    @Test func aNewerSchemaIsRefusedAndAnUnreachableServerSaysWhatToDo() async throws {
        try await withReplicas { a, _, server in
            // A migration this binary does not know, as a newer meshrelay would record it.
            try await a.saveBootstrapToken(BootstrapTokenRecord(hash: "x", cluster: "c", createdAt: Date(), expiresAt: Date() + 60))
            let location = try PostgresLocation(url: server.url())
            try await forgeMigration("v99-from-the-future", server: server)
            let error = await #expect(throws: StoreError.self) { try await PostgresStore.open(location, logger: testLogger) }
            #expect(error?.code == .migration)
            #expect(error?.message.contains("v99-from-the-future") == true)
        }
        let nobody = try PostgresLocation(url: "postgres://postgres@127.0.0.1:\(try freeLoopbackPort())/meshrelay?sslmode=disable")
        let error = await #expect(throws: StoreError.self) {
            try await PostgresStore.open(nobody, logger: testLogger, operationTimeout: .seconds(8))
        }
        #expect(error?.code == .cannotOpen)
        #expect(error?.message.contains("127.0.0.1") == true)
    }

    @Test func urlsAreParsedStrictlyAndPasswordsNeverPrinted() throws {
        let full = try PostgresLocation(url: "postgresql://meshrelay:s%40cret@db.example.com:6432/meshrelay?sslmode=require")
        #expect(full == PostgresLocation(host: "db.example.com", port: 6432, username: "meshrelay", password: "s@cret", database: "meshrelay", tls: .require))
        #expect(full.description == "postgres://meshrelay@db.example.com:6432/meshrelay?sslmode=require")
        #expect(try PostgresLocation(url: "postgres://u@h/d").port == 5432)
        for bad in ["postgres://h/d", "postgres://u@h", "postgres://u@h/d?sslmode=verify-full", "postgres://u@h/d?x=1", "mysql://u@h/d"] {
            #expect(throws: StoreError.self, "\(bad)") { try PostgresLocation(url: bad) }
        }
        do {
            _ = try PostgresLocation(url: "postgres://u:topsecret@h/d?sslmode=bogus")
            Issue.record("accepted a bogus sslmode")
        } catch {
            #expect(!error.message.contains("topsecret"))
        }
    }
}

/// Records a migration id in the database, as a newer meshrelay would (psql from the server's
/// bin directory).
func forgeMigration(_ id: String, server: PostgresServer) async throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: server.binDirectory + "/psql")
    process.arguments = [
        "-h", "127.0.0.1", "-p", "\(server.port)", "-U", "postgres", "-d", "meshrelay", "-v", "ON_ERROR_STOP=1",
        "-c", "INSERT INTO meshrelay_migrations (id, applied_at) VALUES ('\(id)', 0)",
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(30)
    while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
    #expect(process.terminationStatus == 0)
}
