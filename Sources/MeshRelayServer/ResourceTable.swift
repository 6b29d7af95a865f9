import Foundation
import MeshRelayModel
import MeshRelayStore

/// Server-side printing, as Kubernetes does for kubectl: with
/// `Accept: application/json;as=Table;g=meta.k8s.io;v=v1` a list or get answers with a
/// `meta.k8s.io/v1` `Table` whose cells are already formatted, so `meshrelay get` of thousands of
/// resources transfers and decodes a fraction of the objects. Columns with `priority: 1` are
/// shown by `-o wide` only.
enum ResourceTable {
    struct Column {
        var name: String
        var description: String
        var priority: Int
    }

    /// Whether the request asks for a Table.
    static func isRequested(accept: String?) -> Bool {
        guard let accept else { return false }
        return accept.split(separator: ",").contains { $0.replacingOccurrences(of: " ", with: "").contains(";as=Table") }
    }

    static func columns(for kind: ResourceKind) -> [Column] {
        var columns = [Column(name: "Name", description: "metadata.name", priority: 0)]
        switch kind {
        case .externalService:
            columns += [
                Column(name: "Hosts/Addresses", description: "spec.hosts or spec.addresses", priority: 0),
                Column(name: "Ports", description: "spec.ports as number/protocol", priority: 0),
                Column(name: "State", description: "status.common.state.approval", priority: 0),
            ]
        case .externalEndpoint:
            columns += [
                Column(name: "Address", description: "spec.address", priority: 0),
                Column(name: "Ports", description: "spec.ports as number(name)", priority: 0),
                Column(name: "State", description: "status.common.state.approval", priority: 0),
            ]
        case .workspace:
            columns += [
                Column(name: "Clusters", description: "spec.workloadClusters[].name", priority: 0),
                Column(name: "Namespaces", description: "spec.workloadClusters[].namespaces[].name", priority: 0),
            ]
        case .kubernetesCluster:
            columns += [Column(name: "Domain", description: "spec.clusterDomain", priority: 0)]
        }
        columns += [
            Column(name: "Generation", description: "metadata.generation", priority: 1),
            Column(name: "Clusters Applied", description: "selected clusters that applied the current generation", priority: 1),
            Column(name: "Message", description: "status.common.state.message", priority: 1),
            Column(name: "Age", description: "time since metadata.creationTimestamp", priority: 0),
        ]
        return columns
    }

    static func cells(for stored: StoredResource, context: StatusContext, now: Date) -> [String] {
        let entry = context.entry(for: stored)
        var cells = [stored.key.name]
        switch stored.resource.spec {
        case .externalService(let spec):
            cells += [
                ((spec.hosts ?? []) + (spec.addresses ?? [])).joined(separator: ","),
                (spec.ports ?? []).map { "\($0.number)/\($0.protocol.rawValue)" }.joined(separator: ","),
                entry.state.rawValue,
            ]
        case .externalEndpoint(let spec):
            cells += [
                spec.address,
                (spec.ports ?? []).map { "\($0.number)" + ($0.name.map { "(\($0))" } ?? "") }.joined(separator: ","),
                entry.state.rawValue,
            ]
        case .workspace(let spec):
            let clusters = spec.workloadClusters ?? []
            cells += [
                clusters.map(\.name).joined(separator: ","),
                Array(Set(clusters.flatMap { ($0.namespaces ?? []).map(\.name) })).sorted().joined(separator: ","),
            ]
        case .kubernetesCluster(let spec):
            cells += [spec.clusterDomain ?? "cluster.local"]
        }
        let applied = entry.clusters.filter { $0.state == .applied || $0.state == .warning }.count
        cells += [
            String(stored.generation),
            entry.clusters.isEmpty ? "-" : "\(applied)/\(entry.clusters.count)",
            entry.message,
            KubectlAge.string(from: stored.createdAt, to: now),
        ]
        return cells
    }

    /// The `Table` body for resources of one kind.
    static func body(kind: ResourceKind, items: [StoredResource], context: StatusContext, now: Date) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 512 + items.count * 160)
        writer.beginObject()
        writer.field("apiVersion", "meta.k8s.io/v1")
        writer.key("columnDefinitions")
        writer.beginArray()
        for column in columns(for: kind) {
            writer.beginObject()
            writer.field("description", column.description)
            writer.field("format", column.name == "Name" ? "name" : "")
            writer.field("name", column.name)
            writer.field("priority", Int64(column.priority))
            writer.field("type", "string")
            writer.endObject()
        }
        writer.endArray()
        writer.field("kind", "Table")
        writer.key("metadata")
        writer.beginObject()
        writer.field("resourceVersion", String(context.revision))
        writer.endObject()
        writer.key("rows")
        writer.beginArray()
        for stored in items {
            writer.beginObject()
            writer.key("cells")
            writer.beginArray()
            for cell in cells(for: stored, context: context, now: now) {
                writer.string(cell)
            }
            writer.endArray()
            writer.key("object")
            writer.beginObject()
            writer.field("apiVersion", "meta.k8s.io/v1")
            writer.field("kind", "PartialObjectMetadata")
            writer.key("metadata")
            writer.beginObject()
            writer.field("name", stored.key.name)
            writer.field("namespace", stored.key.namespace)
            writer.endObject()
            writer.endObject()
            writer.endObject()
        }
        writer.endArray()
        writer.endObject()
        return writer.bytes
    }
}
