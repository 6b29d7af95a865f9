import Foundation
import MeshRelayModel
import MeshRelayServer
import Yams

/// A `meta.k8s.io/v1` `Table`, as the server prints it for `get` (see docs/api.md).
struct ServerTable: Decodable {
    struct Column: Decodable {
        var name: String
        var priority: Int
    }
    struct Row: Decodable {
        struct Object: Decodable {
            struct Metadata: Decodable { var namespace: String? }
            var metadata: Metadata
        }
        var cells: [String]
        var object: Object?
    }
    var columnDefinitions: [Column]
    var rows: [Row]

    /// Text columns like kubectl: upper-case headers, wide columns only with `-o wide`, a
    /// NAMESPACE column first when listing across namespaces.
    func render(showNamespace: Bool, wide: Bool) -> String {
        let shown = columnDefinitions.indices.filter { wide || columnDefinitions[$0].priority == 0 }
        var header = shown.map { columnDefinitions[$0].name.uppercased() }
        if showNamespace { header.insert("NAMESPACE", at: 0) }
        let body = rows.map { row -> [String] in
            var cells = shown.map { $0 < row.cells.count ? row.cells[$0] : "" }
            if showNamespace { cells.insert(row.object?.metadata.namespace ?? "", at: 0) }
            return cells
        }
        return renderTable(header, body)
    }
}

/// `describe` text.
enum ResourceDescription {
    static func render(_ object: APIObject, details: DescribeReport? = nil) throws(CLIError) -> String {
        let resource = object.resource
        let meta = resource.metadata
        var lines: [String] = []
        func field(_ name: String, _ value: String) {
            lines.append((name + ":").padding(toLength: 20, withPad: " ", startingAt: 0) + value)
        }
        field("Name", meta.name)
        field("Namespace", meta.namespace)
        field("Kind", "\(resource.kind.rawValue) (\(resource.kind.apiVersion))")
        field("Labels", labelsText(meta.labels))
        field("Annotations", labelsText(meta.annotations))
        field("UID", meta.uid ?? "-")
        field("Generation", meta.generation.map(String.init) ?? "-")
        field("Resource Version", meta.resourceVersion ?? "-")
        field("Created", meta.creationTimestamp.map { "\($0) (\(age(of: $0)) ago)" } ?? "-")
        lines.append("Spec:")
        let specYAML: String
        do {
            let encoder = YAMLEncoder()
            encoder.options.sortKeys = true
            let data = try JSONEncoder().encode(resource)
            let value = try JSONDecoder().decode([String: JSONValue].self, from: data)
            specYAML = try encoder.encode(value["spec"] ?? .object([:]))
        } catch {
            throw .refused("cannot render the spec: \(error)")
        }
        lines += specYAML.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }.map { "  \($0)" }
        if case .externalService(let spec) = resource.spec, let selector = spec.selector, selector.isEmpty {
            lines.append("  # an empty selector selects no ExternalEndpoint: the hosts are resolved by DNS")
        }
        if let status = object.status {
            lines.append("Status:")
            field("  State", status.common.state.approval)
            if let message = status.common.state.message, !message.isEmpty {
                field("  Message", message)
            }
            let clusters = status.clusters ?? []
            lines.append("Clusters:")
            if let details {
                lines += describedClusters(details)
            } else if clusters.isEmpty {
                lines.append("  <none selected>")
            } else {
                let table = renderTable(
                    ["CLUSTER", "STATE", "GENERATION", "MESSAGE"],
                    clusters.map { [$0.name, $0.state.rawValue, $0.observedGeneration.map(String.init) ?? "-", $0.message] }
                )
                lines += table.split(separator: "\n").map { "  \($0)" }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Per cluster: state, since when, how long the apply took, the selected endpoints, warnings and
    /// conflicts; then the recent events.
    private static func describedClusters(_ details: DescribeReport) -> [String] {
        var lines: [String] = []
        let states = details.resource.clusters
        if states.isEmpty {
            lines.append("  <none selected>")
        } else {
            let table = renderTable(
                ["CLUSTER", "STATE", "GENERATION", "SINCE", "APPLIED AFTER", "MESSAGE"],
                states.map {
                    [
                        $0.name, $0.state.rawValue, $0.observedGeneration.map(String.init) ?? "-", $0.since ?? "-",
                        $0.appliedAfterSeconds.map { String(format: "%.3f s", $0) } ?? "-", $0.message,
                    ]
                }
            )
            lines += table.split(separator: "\n").map { "  \($0)" }
        }
        for cluster in details.clusters {
            lines.append("In \(cluster.name):")
            if let failure = cluster.failure { lines.append("  Not applied: \(failure)") }
            lines.append(
                "  Endpoints:        " + (cluster.selectedEndpoints.isEmpty ? "<none: hosts resolved by DNS>" : cluster.selectedEndpoints.joined(separator: ", "))
            )
            // Conflicts have their own lines below.
            for warning in cluster.warnings where !warning.contains("already claimed by") { lines.append("  Warning:          \(warning)") }
            for conflict in cluster.conflicts {
                let winner = conflict.claimants.first ?? "?"
                lines.append(
                    "  Conflict:         \(conflict.target) asked for by \(conflict.claimants.joined(separator: ", ")); "
                        + (conflict.wins ? "this service wins" : "\(winner) wins")
                )
            }
        }
        lines.append("Events:")
        if details.events.isEmpty {
            lines.append("  <none since this server started>")
        } else {
            let table = renderTable(
                ["TIME", "TYPE", "GENERATION", "CLUSTERS", "MESSAGE"],
                details.events.map { [$0.time, $0.type, String($0.generation), $0.clusters.isEmpty ? "-" : $0.clusters.joined(separator: ","), $0.message] }
            )
            lines += table.split(separator: "\n").map { "  \($0)" }
        }
        return lines
    }

    private static func labelsText(_ labels: [String: String]?) -> String {
        guard let labels, !labels.isEmpty else { return "<none>" }
        return labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}

/// `status` text: clusters, then resources that are not fully applied, then certificates that
/// expire soon.
enum StatusTable {
    static func render(_ report: StatusReport, now: Date = Date()) -> String {
        var lines = ["Revision: \(report.revision)   (change log kept from revision \(report.compactedRevision))", ""]
        if report.clusters.isEmpty {
            lines.append("Clusters: none registered (apply a KubernetesCluster per workload cluster)")
        } else {
            lines.append(
                renderTable(
                    ["CLUSTER", "REGISTERED", "CONNECTED", "POLICY", "APPLIED REVISION", "LAG", "LAST SEEN", "AGENT", "DATA PLANE", "CERTIFICATE"],
                    report.clusters.map {
                        [
                            $0.name, $0.registered ? "yes" : "no", $0.connected ? "yes" : "no", $0.outboundPolicy ?? "-",
                            String($0.appliedRevision), String($0.lag), $0.lastSeen ?? "never", $0.agentVersion ?? "-",
                            $0.dataPlane ?? "-",
                            $0.certificateExpires.flatMap(RFC3339.date(from:)).map { daysLeft(until: $0, now: now) } ?? "-",
                        ]
                    }
                )
            )
        }
        lines.append("")
        let notDone = report.resources.filter { $0.state != .accepted }
        let accepted = report.resources.count - notDone.count
        lines.append("Resources: \(report.resources.count) (\(accepted) accepted, \(notDone.count) not fully applied)")
        if !notDone.isEmpty {
            lines.append(
                renderTable(
                    ["KIND", "NAMESPACE", "NAME", "GENERATION", "STATE", "MESSAGE"],
                    notDone.map { [$0.kind, $0.namespace, $0.name, String($0.generation), $0.state.rawValue, $0.message] }
                )
            )
        }
        let unhealthy = report.clusters.filter { $0.dataPlane == "UNHEALTHY" }
        if !unhealthy.isEmpty {
            lines.append("")
            lines.append(renderTable(["CLUSTER", "DATA PLANE"], unhealthy.map { [$0.name, $0.dataPlaneMessage ?? "unhealthy"] }))
        }
        let soon = report.certificates.filter { $0.daysLeft < 30 }
        if !soon.isEmpty {
            lines.append("")
            lines.append("Server certificates expiring within 30 days:")
            lines.append(renderTable(["FILE", "SUBJECT", "NOT AFTER", "DAYS LEFT"], soon.map { [$0.file, $0.subject, $0.notAfter, String($0.daysLeft)] }))
        }
        return lines.joined(separator: "\n")
    }

    private static func daysLeft(until date: Date, now: Date) -> String {
        let days = Int((date.timeIntervalSince(now) / 86400).rounded(.down))
        return days < 0 ? "EXPIRED" : "\(days)d left"
    }
}
