import Foundation
import MeshRelayModel
import MeshRelayStore

/// A stored resource as the API returns it: the Kubernetes object with server-owned metadata
/// and a Gloo-shaped `status` (`status.common.state.{approval,message,observedGeneration}` and
/// `status.clusters[]`). Written with ``JSONWriter`` (keys sorted), embedding the stored
/// canonical spec JSON as is: lists of thousands of objects are the API's hot path.
enum ResourceObject {
    static func write(_ stored: StoredResource, context: StatusContext, into writer: inout JSONWriter) {
        let entry = context.entry(for: stored)
        let kind = stored.key.kind
        let metadata = stored.resource.metadata
        writer.beginObject()
        writer.field("apiVersion", kind.apiVersion)
        writer.field("kind", kind.rawValue)
        writer.key("metadata")
        writer.beginObject()
        if let annotations = metadata.annotations { writer.field("annotations", annotations) }
        writer.field("creationTimestamp", RFC3339.string(from: stored.createdAt))
        writer.field("generation", stored.generation)
        if let labels = metadata.labels { writer.field("labels", labels) }
        writer.field("name", metadata.name)
        writer.field("namespace", metadata.namespace)
        writer.field("resourceVersion", String(stored.resourceVersion))
        writer.field("uid", stored.uid)
        writer.endObject()
        writer.key("spec")
        writer.raw(stored.specJSON)
        writer.key("status")
        writer.beginObject()
        writer.key("clusters")
        writer.beginArray()
        for cluster in entry.clusters {
            writer.beginObject()
            writer.field("message", cluster.message)
            writer.field("name", cluster.name)
            if let observed = cluster.observedGeneration { writer.field("observedGeneration", observed) }
            writer.field("state", cluster.state.rawValue)
            writer.endObject()
        }
        writer.endArray()
        writer.key("common")
        writer.beginObject()
        writer.key("state")
        writer.beginObject()
        writer.field("approval", entry.state.rawValue)
        writer.field("message", entry.message)
        writer.field("observedGeneration", stored.generation)
        writer.endObject()
        writer.endObject()
        writer.endObject()
        writer.endObject()
    }

    /// One object as a response body.
    static func body(_ stored: StoredResource, context: StatusContext) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 1024)
        write(stored, context: context, into: &writer)
        return writer.bytes
    }

    /// `GET …/{plural}`: a Kubernetes list object (`{Kind}List`).
    static func listBody(kind: ResourceKind, items: [StoredResource], context: StatusContext) -> [UInt8] {
        var writer = JSONWriter(reservingCapacity: 256 + items.count * 600)
        writer.beginObject()
        writer.field("apiVersion", kind.apiVersion)
        writer.key("items")
        writer.beginArray()
        for item in items {
            write(item, context: context, into: &writer)
        }
        writer.endArray()
        writer.field("kind", "\(kind.rawValue)List")
        writer.key("metadata")
        writer.beginObject()
        writer.field("resourceVersion", String(context.revision))
        writer.endObject()
        writer.endObject()
        return writer.bytes
    }
}

/// One line of an apply or delete result.
struct ResultEntry: Codable, Sendable {
    var apiVersion: String
    var kind: String
    var namespace: String
    var name: String
    /// `created`, `configured`, `unchanged`, `deleted` or `notFound`.
    var action: String
    var generation: Int64?
    var resourceVersion: String?
}

/// `POST /api/v1/apply` and `POST /api/v1/delete` responses.
struct BatchResult: Codable, Sendable {
    var kind: String
    var revision: Int64
    var results: [ResultEntry]
}
