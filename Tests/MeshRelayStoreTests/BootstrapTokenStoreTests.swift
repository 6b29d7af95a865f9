import Foundation
import MeshRelayStore
import Testing

/// Bootstrap tokens in both stores (a real SQLite file, a real PostgreSQL): redeemed once, for their cluster, before they expire.
@Suite struct BootstrapTokenStoreTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: StoreBackend.allCases) func aTokenIsRedeemedOnceForItsClusterBeforeItExpires(_ backend: StoreBackend) async throws {
        try await withStoreSite(backend) { site in
            let store = try await site.open()
            try await store.saveBootstrapToken(BootstrapTokenRecord(hash: "aa", cluster: "cluster-1", createdAt: Self.now, expiresAt: Self.now + 3600))
            try await store.saveBootstrapToken(BootstrapTokenRecord(hash: "bb", cluster: "cluster-1", createdAt: Self.now, expiresAt: Self.now + 60))
            #expect(try await !store.redeemBootstrapToken(hash: "aa", cluster: "cluster-2", now: Self.now), "another cluster")
            #expect(try await !store.redeemBootstrapToken(hash: "zz", cluster: "cluster-1", now: Self.now), "unknown")
            #expect(try await !store.redeemBootstrapToken(hash: "bb", cluster: "cluster-1", now: Self.now + 61), "expired")
            #expect(try await store.redeemBootstrapToken(hash: "aa", cluster: "cluster-1", now: Self.now))
            #expect(try await !store.redeemBootstrapToken(hash: "aa", cluster: "cluster-1", now: Self.now), "used")

            // The use survives a restart: the same file, a new store.
            let reopened = try await site.open()
            #expect(try await !reopened.redeemBootstrapToken(hash: "aa", cluster: "cluster-1", now: Self.now))
            #expect(try await reopened.redeemBootstrapToken(hash: "bb", cluster: "cluster-1", now: Self.now + 30))
        }
    }

    @Test(arguments: StoreBackend.allCases) func concurrentRedemptionsOfOneTokenSucceedOnce(_ backend: StoreBackend) async throws {
        try await withStore(backend) { store in
            try await store.saveBootstrapToken(BootstrapTokenRecord(hash: "cc", cluster: "c", createdAt: Self.now, expiresAt: Self.now + 3600))
            let successes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 { group.addTask { try await store.redeemBootstrapToken(hash: "cc", cluster: "c", now: Self.now) } }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(successes == 1)
        }
    }
}
