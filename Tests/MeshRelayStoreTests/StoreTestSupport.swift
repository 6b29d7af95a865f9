import Foundation
import Logging
import MeshRelayModel
import MeshRelayStore
import Synchronization

/// A fresh directory under the system temp dir, removed when `body` returns or throws.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("meshrelay-store-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// Opens a store on a fresh file, runs `body`, then closes the store and removes the file.
func withStore<T>(clock: TestClock = TestClock(), _ body: (SQLiteStore) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { directory in
        let store = try openStore(in: directory, clock: clock)
        defer { try? store.close() }
        return try await body(store)
    }
}

/// Opens (or reopens) the store file in `directory`.
func openStore(in directory: URL, clock: TestClock = TestClock()) throws -> SQLiteStore {
    try SQLiteStore(path: databasePath(in: directory), logger: testLogger, now: { clock.now })
}

/// The store file's path in `directory` (one level down, so the store creates the parent).
func databasePath(in directory: URL) -> String {
    directory.appendingPathComponent("data/meshrelay.db").path
}

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
