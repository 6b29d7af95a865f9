public import CoreMetrics

/// The agent's own metrics (`meshrelay agent --metrics-listen`), created from an explicit factory
/// so that several agents in one process (tests, the demo) do not share state. docs/operations.md
/// lists them with alert rules.
public struct AgentMetrics: Sendable {
    let connected: Gauge
    let reconnects: Counter
    let applySeconds: CoreMetrics.Timer
    let appliedRevision: Gauge
    let confirmedRevision: Gauge
    let nacks: Counter
    let dataPlaneHealthy: Gauge
    let resources: Gauge

    /// - Parameter factory: Usually a `PrometheusMetricsFactory` whose registry `/metrics` emits.
    public init(factory: any MetricsFactory) {
        connected = Gauge(label: "meshrelay_agent_connected", dimensions: [], factory: factory)
        reconnects = Counter(label: "meshrelay_agent_reconnects_total", dimensions: [], factory: factory)
        applySeconds = CoreMetrics.Timer(label: "meshrelay_agent_apply_seconds", dimensions: [], factory: factory)
        appliedRevision = Gauge(label: "meshrelay_agent_applied_revision", dimensions: [], factory: factory)
        confirmedRevision = Gauge(label: "meshrelay_agent_data_plane_confirmed_revision", dimensions: [], factory: factory)
        nacks = Counter(label: "meshrelay_agent_nacks_total", dimensions: [], factory: factory)
        dataPlaneHealthy = Gauge(label: "meshrelay_agent_data_plane_healthy", dimensions: [], factory: factory)
        resources = Gauge(label: "meshrelay_agent_resources", dimensions: [], factory: factory)
        connected.record(0)
        appliedRevision.record(0)
    }
}
