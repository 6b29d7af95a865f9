import Logging
import MeshRelayStore
import ServiceLifecycle

/// Keeps the change log bounded: every interval, compacts it to the configured retention.
struct CompactionService: Service {
    let store: any ResourceStore
    let retention: Int64
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                // Graceful shutdown must not wait out the interval.
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            do {
                let horizon = try await store.compact(retaining: retention)
                logger.debug("change log compacted", metadata: ["store.compacted_revision": "\(horizon)"])
            } catch {
                logger.warning("change log compaction failed; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}
