public import CoreMetrics
import Foundation

/// The server's own metrics, created from an explicit factory so that tests and several servers
/// in one process do not share global state.
public struct ServerMetrics: Sendable {
    let factory: any MetricsFactory
    let revision: Gauge
    let resources: Gauge

    /// - Parameter factory: Usually a `PrometheusMetricsFactory` whose registry `/metrics` emits.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        revision = Gauge(label: "meshrelay_revision", dimensions: [], factory: factory)
        resources = Gauge(label: "meshrelay_resources", dimensions: [], factory: factory)
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
        Counter(label: "meshrelay_relay_frames_total", dimensions: [("direction", direction), ("type", type)], factory: factory).increment()
        Counter(label: "meshrelay_relay_bytes_total", dimensions: [("direction", direction)], factory: factory).increment(by: bytes)
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
        Timer(label: "meshrelay_convergence_seconds", dimensions: [("cluster", cluster)], factory: factory).record(duration: seconds)
    }
}
