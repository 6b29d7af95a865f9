import Foundation
import MeshRelayModel
import MeshRelayStore

/// A stored resource as the API returns it: the Kubernetes object with server-owned metadata
/// and a Gloo-shaped `status`.
struct ResourceObject: Encodable, Sendable {
    struct Status: Encodable, Sendable {
        struct Common: Encodable, Sendable {
            struct State: Encodable, Sendable {
                var approval: ResourceState
                var message: String
                var observedGeneration: Int64
            }
            var state: State
        }
        var common: Common
        var clusters: [StatusReport.ResourceCluster]
    }

    var object: Resource
    var status: Status

    init(stored: StoredResource, context: StatusContext) {
        object = stored.object
        let entry = context.entry(for: stored)
        status = Status(
            common: .init(state: .init(approval: entry.state, message: entry.message, observedGeneration: stored.generation)),
            clusters: entry.clusters
        )
    }

    private enum CodingKeys: String, CodingKey { case status }

    func encode(to encoder: any Encoder) throws {
        try object.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(status, forKey: .status)
    }
}

/// `GET …/{plural}`: a Kubernetes list object.
struct ResourceList: Encodable, Sendable {
    struct Metadata: Encodable, Sendable { var resourceVersion: String }
    var apiVersion: String
    var kind: String
    var metadata: Metadata
    var items: [ResourceObject]
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
