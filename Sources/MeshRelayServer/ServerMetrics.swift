public import CoreMetrics
import Foundation
import Synchronization

/// The server's own metrics, created from an explicit factory so that tests and several servers
/// in one process do not share global state.
public struct ServerMetrics: Sendable {
    let factory: any MetricsFactory
    let revision: Gauge
    let resources: Gauge
    /// Handles of the per-frame and per-ACK metrics, made once: making a handle through the
    /// factory (label formatting, registry lock) per frame cost more than the frame.
    private let handles = Handles()

    /// - Parameter factory: Usually a `PrometheusMetricsFactory` whose registry `/metrics` emits.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        revision = Gauge(label: "meshrelay_revision", dimensions: [], factory: factory)
        resources = Gauge(label: "meshrelay_resources", dimensions: [], factory: factory)
    }

    private final class Handles: Sendable {
        let frames = Mutex<[String: [String: Counter]]>([:])
        let bytes = Mutex<[String: Counter]>([:])
        let convergence = Mutex<[String: CoreMetrics.Timer]>([:])
    }

    func requestCompleted(method: String, code: Int) {
        Counter(label: "meshrelay_api_requests_total", dimensions: [("method", method), ("code", String(code))], factory: factory).increment()
    }

    func storeOperation(_ operation: String, seconds: Double) {
        Timer(label: "meshrelay_store_operation_seconds", dimensions: [("operation", operation)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1_000_000_000))
    }

    func storeFailure(_ operation: String) {
        Counter(label: "meshrelay_store_errors_total", dimensions: [("operation", operation)], factory: factory).increment()
    }

    func appliedResources(_ action: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: "meshrelay_resource_changes_total", dimensions: [("action", action)], factory: factory).increment(by: count)
    }

    // MARK: Relay

    func agentsConnected(cluster: String, count: Int) {
        Gauge(label: "meshrelay_agents_connected", dimensions: [("cluster", cluster)], factory: factory).record(count)
    }

    func relayFrame(direction: String, type: String, bytes: Int) {
        let factory = self.factory
        let frames = handles.frames.withLock { counters in
            if let counter = counters[direction]?[type] { return counter }
            let counter = Counter(label: "meshrelay_relay_frames_total", dimensions: [("direction", direction), ("type", type)], factory: factory)
            counters[direction, default: [:]][type] = counter
            return counter
        }
        let byteCounter = handles.bytes.withLock { counters in
            if let counter = counters[direction] { return counter }
            let counter = Counter(label: "meshrelay_relay_bytes_total", dimensions: [("direction", direction)], factory: factory)
            counters[direction] = counter
            return counter
        }
        frames.increment()
        byteCounter.increment(by: bytes)
    }

    func nacks(cluster: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: "meshrelay_nacks_total", dimensions: [("cluster", cluster)], factory: factory).increment(by: count)
    }

    func clusterLag(cluster: String, revisions: Int64) {
        Gauge(label: "meshrelay_cluster_lag_revisions", dimensions: [("cluster", cluster)], factory: factory).record(revisions)
    }

    /// Time from a revision's commit to a cluster's agent holding it.
    func convergence(cluster: String, seconds: Duration) {
        let factory = self.factory
        let timer = handles.convergence.withLock { timers in
            if let timer = timers[cluster] { return timer }
            let timer = Timer(label: "meshrelay_convergence_seconds", dimensions: [("cluster", cluster)], factory: factory)
            timers[cluster] = timer
            return timer
        }
        timer.record(duration: seconds)
    }
}
