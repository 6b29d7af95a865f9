import Foundation
import Logging
import MeshRelayStore
import ServiceLifecycle

/// What a replica of a shared store does besides serving (docs/architecture.md "High
/// availability"):
///
/// - **hears of other replicas' writes**: every revision the store announces (PostgreSQL
///   NOTIFY), and the revision polled every `pollInterval`, wakes the hub, which pushes the new
///   views to the agents connected here;
/// - **heartbeats**: records every `heartbeatInterval` that it is alive;
/// - **singleton duties**, on the one replica holding the store's lease: change-log compaction
///   every `compactionInterval`, and expiry every heartbeat interval — the clusters whose session
///   is held by a replica silent for 3 heartbeat intervals are marked disconnected. Another
///   replica takes the lease over when the holder's store session ends.
struct ReplicaService: Service {
    let store: any SharedStore
    let hub: RelayHub
    let replicaID: String
    let pollInterval: Duration
    let heartbeatInterval: Duration
    let retention: Int64
    let compactionInterval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await store.watchRevisions(pollInterval: pollInterval) { revision in hub.storeChanged(revision: revision) } }
                group.addTask { await heartbeats() }
                group.addTask { await singletonDuties() }
                await group.waitForAll()
            }
        }
    }

    private func heartbeats() async {
        var failing = false
        while !Task.isCancelled {
            do {
                try await store.recordReplicaHeartbeat(id: replicaID, at: Date())
                if failing { logger.notice("replica heartbeat recorded again", metadata: ["replica": "\(replicaID)"]) }
                failing = false
            } catch {
                if !failing {
                    logger.warning("cannot record this replica's heartbeat; retrying", metadata: ["replica": "\(replicaID)", "error": "\(error)"])
                }
                failing = true
            }
            try? await Task.sleep(for: heartbeatInterval)
        }
    }

    private func singletonDuties() async {
        while !Task.isCancelled {
            do {
                let held = try await store.withSingletonLease { stillHeld in
                    logger.notice("this replica runs the singleton duties (change-log compaction, session expiry)", metadata: ["replica": "\(replicaID)"])
                    var nextCompaction = ContinuousClock.now + compactionInterval
                    while !Task.isCancelled, await stillHeld() {
                        await expire()
                        if ContinuousClock.now >= nextCompaction {
                            nextCompaction = ContinuousClock.now + compactionInterval
                            do {
                                _ = try await store.compact(retaining: retention)
                            } catch {
                                logger.warning("change log compaction failed; will retry", metadata: ["error": "\(error)"])
                            }
                        }
                        try? await Task.sleep(for: heartbeatInterval)
                    }
                    logger.notice("this replica no longer runs the singleton duties", metadata: ["replica": "\(replicaID)"])
                }
                if !held { logger.debug("another replica runs the singleton duties") }
            } catch {
                logger.debug("cannot take the singleton lease; retrying", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: heartbeatInterval)
        }
    }

    private func expire() async {
        let now = Date()
        do {
            let expired = try await store.expireStale(before: now - 3 * heartbeatInterval.seconds, now: now)
            if !expired.isEmpty {
                logger.notice(
                    "clusters marked disconnected: the replica holding their sessions stopped heartbeating",
                    metadata: ["clusters": "\(expired.joined(separator: ","))"]
                )
            }
        } catch {
            logger.warning("session expiry failed; will retry", metadata: ["error": "\(error)"])
        }
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
