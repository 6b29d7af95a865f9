public import CoreMetrics
import Foundation
import MeshRelayProtocol
import Synchronization

/// The server's own metrics, created from an explicit factory so that tests and several servers
/// in one process do not share global state.
///
/// A class: the relay reads it per frame, and a struct of handles was copied (each handle
/// retained and released) at every read through the hub.
public final class ServerMetrics: Sendable {
    let factory: any MetricsFactory
    let revision: Gauge
    let resources: Gauge
    /// Handles of the per-frame and per-ACK metrics, made once: making a handle through the
    /// factory (label formatting, registry lock) per frame cost more than the frame.
    private let handles = Handles()
    /// The frame counters of the known frame types, by direction and type number, made at start
    /// so that a frame counts without a lock or a lookup by name.
    private let knownFrames: [[Counter]]
    private let frameBytes: [Counter]

    /// Which way a relay frame went.
    enum FrameDirection: Int, CaseIterable {
        case inbound = 0
        case outbound = 1

        var label: String {
            switch self {
            case .inbound: "in"
            case .outbound: "out"
            }
        }
    }

    /// The frame types counted by ``knownFrames`` (type numbers 1 up to this one).
    private static let lastKnownFrameType = FrameType.goodbye.rawValue

    /// - Parameter factory: Usually a `PrometheusMetricsFactory` whose registry `/metrics` emits.
    public init(factory: any MetricsFactory) {
        self.factory = factory
        revision = Gauge(label: "meshrelay_revision", dimensions: [], factory: factory)
        resources = Gauge(label: "meshrelay_resources", dimensions: [], factory: factory)
        knownFrames = FrameDirection.allCases.map { direction in
            (1...Self.lastKnownFrameType).map { type in
                Counter(
                    label: "meshrelay_relay_frames_total", dimensions: [("direction", direction.label), ("type", FrameType(rawValue: type).description)],
                    factory: factory
                )
            }
        }
        frameBytes = FrameDirection.allCases.map { direction in
            Counter(label: "meshrelay_relay_bytes_total", dimensions: [("direction", direction.label)], factory: factory)
        }
    }

    private final class Handles: Sendable {
        /// Counters of frame types this server does not know, by direction and type name.
        let otherFrames = Mutex<[String: Counter]>([:])
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

    func relayFrame(direction: FrameDirection, type: FrameType, bytes: Int) {
        frameBytes[direction.rawValue].increment(by: bytes)
        if type.rawValue >= 1, type.rawValue <= Self.lastKnownFrameType {
            knownFrames[direction.rawValue][Int(type.rawValue) - 1].increment()
            return
        }
        let factory = self.factory
        let name = type.description
        let counter = handles.otherFrames.withLock { counters in
            let key = "\(direction.label) \(name)"
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "meshrelay_relay_frames_total", dimensions: [("direction", direction.label), ("type", name)], factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    func nacks(cluster: String, count: Int) {
        guard count > 0 else { return }
        Counter(label: "meshrelay_nacks_total", dimensions: [("cluster", cluster)], factory: factory).increment(by: count)
    }

    func clusterLag(cluster: String, revisions: Int64) {
        Gauge(label: "meshrelay_cluster_lag_revisions", dimensions: [("cluster", cluster)], factory: factory).record(revisions)
    }

    /// The histogram of the time from a revision's commit to a cluster's agent holding it; a
    /// session takes it once and records each revision its agent reaches.
    func convergence(cluster: String) -> CoreMetrics.Timer {
        let factory = self.factory
        return handles.convergence.withLock { timers in
            if let timer = timers[cluster] { return timer }
            let timer = Timer(label: "meshrelay_convergence_seconds", dimensions: [("cluster", cluster)], factory: factory)
            timers[cluster] = timer
            return timer
        }
    }
}
