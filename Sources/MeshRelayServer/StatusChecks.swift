public import Foundation
import MeshRelayModel
import MeshRelayProtocol

/// `meshrelay check`: each check passes or fails with the reason; pure, from the status report
/// and the server's health and readiness answers.
public enum StatusChecks {
    /// One line of `check`.
    public struct Result: Codable, Sendable, Hashable {
        /// Stable identifier for scripts (`-o json`).
        public var name: String
        /// What is checked, as the line says it.
        public var title: String
        public var passed: Bool
        /// Why it failed, or what was found; one entry per finding.
        public var details: [String]

        public init(name: String, title: String, passed: Bool, details: [String] = []) {
            self.name = name
            self.title = title
            self.passed = passed
            self.details = details
        }
    }

    /// Thresholds.
    public struct Limits: Sendable {
        /// A connected cluster may trail the store by this many revisions.
        public var maximumLagRevisions: Int64 = 100
        /// A resource may wait this long for a connected cluster to apply it.
        public var maximumPendingSeconds: Double = 60
        /// Certificates must stay valid at least this many more days.
        public var certificateDays: Int = 30

        public init(maximumLagRevisions: Int64 = 100, maximumPendingSeconds: Double = 60, certificateDays: Int = 30) {
            self.maximumLagRevisions = maximumLagRevisions
            self.maximumPendingSeconds = maximumPendingSeconds
            self.certificateDays = certificateDays
        }
    }

    /// The store check as `/readyz` answered it: nil when ready, else the server's reason.
    public static func evaluate(report: StatusReport, storeProblem: String?, limits: Limits, now: Date) -> [Result] {
        var results = [Result(name: "server", title: "server reachable", passed: true, details: ["revision \(report.revision)"])]
        results.append(
            Result(name: "store", title: "store healthy", passed: storeProblem == nil, details: storeProblem.map { [$0] } ?? [])
        )

        let registered = report.clusters.filter(\.registered)
        let disconnected = registered.filter { !$0.connected }
        results.append(
            Result(
                name: "agents", title: "every registered cluster has a connected agent (\(registered.count - disconnected.count)/\(registered.count))",
                passed: disconnected.isEmpty,
                details: disconnected.map { cluster in
                    "\(cluster.name): " + (cluster.lastSeen.map { "disconnected since \($0)" } ?? "no agent has ever connected")
                }
            )
        )

        let unhealthy = registered.filter { $0.connected && $0.dataPlane == DataPlaneHealth.unhealthyState }
        results.append(
            Result(
                name: "dataPlanes", title: "every connected agent reports a healthy data plane", passed: unhealthy.isEmpty,
                details: unhealthy.map { "\($0.name): \($0.dataPlaneMessage ?? "unhealthy")" }
            )
        )

        var lagging: [String] = []
        let connected = Set(registered.filter(\.connected).map(\.name))
        for cluster in registered where cluster.connected && cluster.lag > limits.maximumLagRevisions {
            lagging.append("\(cluster.name): \(cluster.lag) revisions behind (applied \(cluster.appliedRevision) of \(report.revision))")
        }
        for resource in report.resources {
            for cluster in resource.clusters where cluster.state == .pending && connected.contains(cluster.name) {
                guard let since = cluster.since.flatMap(RFC3339.date(from:)) else { continue }
                let waited = now.timeIntervalSince(since)
                if waited > limits.maximumPendingSeconds {
                    lagging.append("\(cluster.name): \(resource.kind) \(resource.namespace)/\(resource.name) pending for \(Int(waited)) s")
                }
            }
        }
        results.append(
            Result(
                name: "lag",
                title: "no cluster lags more than \(limits.maximumLagRevisions) revisions or \(Self.seconds(limits.maximumPendingSeconds))",
                passed: lagging.isEmpty, details: lagging
            )
        )

        let failed = report.resources.filter { $0.state == .failed || $0.state == .invalid }
        results.append(
            Result(
                name: "failed", title: "no FAILED or INVALID resource", passed: failed.isEmpty,
                details: failed.map { "\($0.kind) \($0.namespace)/\($0.name) \($0.state.rawValue): \($0.message)" }
            )
        )

        let warnings = report.resources.filter { $0.state == .warning }
        results.append(
            Result(
                name: "warnings", title: "no warnings (wildcard hosts that bypass REGISTRY_ONLY, host conflicts)", passed: warnings.isEmpty,
                details: warnings.map { "\($0.kind) \($0.namespace)/\($0.name): \($0.message)" }
            )
        )

        var expiring: [String] = []
        for certificate in report.certificates where certificate.daysLeft < limits.certificateDays {
            expiring.append("server \(certificate.file) (\(certificate.subject)): " + Self.expiry(certificate.daysLeft, certificate.notAfter))
        }
        for cluster in report.clusters {
            guard let text = cluster.certificateExpires, let notAfter = RFC3339.date(from: text) else { continue }
            let days = Int((notAfter.timeIntervalSince(now) / 86400).rounded(.down))
            if days < limits.certificateDays {
                expiring.append("agent of \(cluster.name): " + Self.expiry(days, text))
            }
        }
        results.append(
            Result(
                name: "certificates", title: "no certificate expires within \(limits.certificateDays) days", passed: expiring.isEmpty,
                details: expiring
            )
        )
        return results
    }

    /// The result when the server cannot be asked at all.
    public static func unreachable(_ reason: String) -> [Result] {
        [Result(name: "server", title: "server reachable", passed: false, details: [reason])]
    }

    private static func expiry(_ days: Int, _ notAfter: String) -> String {
        days < 0 ? "EXPIRED on \(notAfter)" : "expires in \(days) days (\(notAfter))"
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\(value) s"
    }
}
