import Foundation
import Logging
import MeshRelayModel
import MeshRelayStore
import MeshRelayTesting
import Synchronization
import Testing

/// The two store implementations the conformance suite runs against.
enum StoreBackend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// A real SQLite file in a temp dir.
    case sqlite
    /// A real PostgreSQL server started for the test (MeshRelayTesting.PostgresServer).
    case postgres

    var testDescription: String { rawValue }
}

/// Where one test's store lives: open it as often as the test needs (a reopen is a restart).
struct StoreSite: Sendable {
    let backend: StoreBackend
    let directory: URL
    let postgres: PostgresServer?
    let clock: TestClock

    func open() async throws -> any ResourceStore {
        switch backend {
        case .sqlite:
            return try openStore(in: directory, clock: clock)
        case .postgres:
            guard let postgres else { throw HarnessFailure("no PostgreSQL server for this site") }
            let clock = self.clock
            return try await PostgresStore.open(
                try PostgresLocation(url: postgres.url()), logger: testLogger, now: { clock.now }, operationTimeout: testStoreTimeout
            )
        }
    }
}

/// A fresh site of `backend` (a temp dir; for PostgreSQL also a server of its own, stopped
/// and removed afterwards).
func withStoreSite<T>(_ backend: StoreBackend, clock: TestClock = TestClock(), _ body: (StoreSite) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { directory in
        let postgres = backend == .postgres ? try await PostgresServer.start() : nil
        do {
            let result = try await body(StoreSite(backend: backend, directory: directory, postgres: postgres, clock: clock))
            await postgres?.shutDown()
            return result
        } catch {
            await postgres?.shutDown()
            throw error
        }
    }
}

/// Opens a store of `backend` on a fresh site, runs `body`, then closes it.
func withStore<T>(_ backend: StoreBackend, clock: TestClock = TestClock(), _ body: (any ResourceStore) async throws -> T) async throws -> T {
    try await withStoreSite(backend, clock: clock) { site in
        let store = try await site.open()
        defer { closeStore(store) }
        return try await body(store)
    }
}

/// Closes either kind of store.
func closeStore(_ store: any ResourceStore) {
    if let store = store as? SQLiteStore { try? store.close() }
    if let store = store as? PostgresStore { store.close() }
}

/// A fresh directory under the system temp dir, removed when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("meshrelay-store-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Opens (or reopens) the store file in `directory`.
func openStore(in directory: URL, clock: TestClock = TestClock()) throws -> SQLiteStore {
    try SQLiteStore(path: databasePath(in: directory), logger: testLogger, now: { clock.now })
}

/// The store file's path in `directory` (one level down, so the store creates the parent).
func databasePath(in directory: URL) -> String {
    directory.appendingPathComponent("data/meshrelay.db").path
}

/// The store call timeout in these tests: generous, because the whole suite shares 2 cores with
/// end-to-end tests that block threads of the concurrency pool; the tests assert outcomes, not
/// latency (the 10 s default timed out under a full parallel run).
let testStoreTimeout: Duration = .seconds(60)

let testLogger: Logger = {
    var logger = Logger(label: "meshrelay.store.tests")
    logger.logLevel = .warning
    return logger
}()

/// A settable clock with whole-second times (exact through the REAL columns).
final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))

    var now: Date { current.withLock { $0 } }

    func advance(seconds: TimeInterval = 60) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }
}

func externalService(
    _ name: String, namespace: String = "global", hosts: [String] = ["example.com"],
    labels: [String: String]? = nil, annotations: [String: String]? = nil
) -> Resource {
    Resource(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels, annotations: annotations),
        spec: .externalService(
            ExternalServiceSpec(hosts: hosts, ports: [ExternalServicePort(name: "https", number: 443, protocol: .https)])
        )
    )
}

func esKey(_ name: String, namespace: String = "global") -> ResourceKey {
    ResourceKey(kind: .externalService, namespace: namespace, name: name)
}

extension ChangesSince {
    /// The change set, or `nil` for `.snapshotRequired`.
    var changeSet: ChangeSet? {
        if case .changes(let set) = self { return set }
        return nil
    }
}
