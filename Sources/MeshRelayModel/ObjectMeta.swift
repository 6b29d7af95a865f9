/// Kubernetes-style object metadata. `name`, `namespace`, `labels` and `annotations` come from the
/// user; `uid`, `generation`, `resourceVersion` and `creationTimestamp` are owned by the server and
/// ignored on input.
public struct ObjectMeta: Sendable, Hashable, Codable {
    public var name: String
    public var namespace: String
    public var labels: [String: String]?
    public var annotations: [String: String]?
    /// Server-owned: stable identifier assigned at creation.
    public var uid: String?
    /// Server-owned: bumped only when the spec really changes.
    public var generation: Int64?
    /// Server-owned: the store revision at which this resource last changed, as a decimal string.
    public var resourceVersion: String?
    /// Server-owned: RFC 3339 creation time (UTC).
    public var creationTimestamp: String?

    public init(
        name: String,
        namespace: String,
        labels: [String: String]? = nil,
        annotations: [String: String]? = nil,
        uid: String? = nil,
        generation: Int64? = nil,
        resourceVersion: String? = nil,
        creationTimestamp: String? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.annotations = annotations
        self.uid = uid
        self.generation = generation
        self.resourceVersion = resourceVersion
        self.creationTimestamp = creationTimestamp
    }

    /// The metadata with every server-owned field removed: what a user's apply controls.
    public var userOwned: ObjectMeta {
        ObjectMeta(name: name, namespace: namespace, labels: labels, annotations: annotations)
    }
}
