public import Foundation

/// The spec of a resource, by kind.
public enum ResourceSpec: Sendable, Hashable {
    case externalService(ExternalServiceSpec)
    case externalEndpoint(ExternalEndpointSpec)
    case workspace(WorkspaceSpec)
    case kubernetesCluster(KubernetesClusterSpec)

    /// The kind this spec belongs to.
    public var kind: ResourceKind {
        switch self {
        case .externalService: .externalService
        case .externalEndpoint: .externalEndpoint
        case .workspace: .workspace
        case .kubernetesCluster: .kubernetesCluster
        }
    }

    /// Canonical JSON (sorted keys, no whitespace): equal specs give equal bytes, which is how the
    /// store decides whether a spec really changed.
    public func canonicalJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        switch self {
        case .externalService(let spec): return try encoder.encode(spec)
        case .externalEndpoint(let spec): return try encoder.encode(spec)
        case .workspace(let spec): return try encoder.encode(spec)
        case .kubernetesCluster(let spec): return try encoder.encode(spec)
        }
    }

    /// Decodes a spec of the given kind from JSON written by ``canonicalJSON()``.
    public static func decode(kind: ResourceKind, json: Data) throws -> ResourceSpec {
        let decoder = JSONDecoder()
        switch kind {
        case .externalService: return .externalService(try decoder.decode(ExternalServiceSpec.self, from: json))
        case .externalEndpoint: return .externalEndpoint(try decoder.decode(ExternalEndpointSpec.self, from: json))
        case .workspace: return .workspace(try decoder.decode(WorkspaceSpec.self, from: json))
        case .kubernetesCluster: return .kubernetesCluster(try decoder.decode(KubernetesClusterSpec.self, from: json))
        }
    }
}

/// One resource as users write it: kind, metadata and spec. Encodes as a Kubernetes object
/// (`apiVersion`, `kind`, `metadata`, `spec`).
public struct Resource: Sendable, Hashable, Codable {
    public var metadata: ObjectMeta
    public var spec: ResourceSpec

    public init(metadata: ObjectMeta, spec: ResourceSpec) {
        self.metadata = metadata
        self.spec = spec
    }

    public var kind: ResourceKind { spec.kind }

    public var key: ResourceKey {
        ResourceKey(kind: kind, namespace: metadata.namespace, name: metadata.name)
    }

    private enum CodingKeys: String, CodingKey {
        case apiVersion, kind, metadata, spec
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let apiVersion = try container.decode(String.self, forKey: .apiVersion)
        let kindName = try container.decode(String.self, forKey: .kind)
        guard let kind = ResourceKind.forManifest(apiVersion: apiVersion, kind: kindName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container,
                debugDescription: "unknown kind \(kindName) in \(apiVersion); known: \(ResourceKind.knownKindsDescription)"
            )
        }
        metadata = try container.decode(ObjectMeta.self, forKey: .metadata)
        switch kind {
        case .externalService: spec = .externalService(try container.decode(ExternalServiceSpec.self, forKey: .spec))
        case .externalEndpoint: spec = .externalEndpoint(try container.decode(ExternalEndpointSpec.self, forKey: .spec))
        case .workspace: spec = .workspace(try container.decode(WorkspaceSpec.self, forKey: .spec))
        case .kubernetesCluster: spec = .kubernetesCluster(try container.decode(KubernetesClusterSpec.self, forKey: .spec))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind.apiVersion, forKey: .apiVersion)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encode(metadata, forKey: .metadata)
        switch spec {
        case .externalService(let spec): try container.encode(spec, forKey: .spec)
        case .externalEndpoint(let spec): try container.encode(spec, forKey: .spec)
        case .workspace(let spec): try container.encode(spec, forKey: .spec)
        case .kubernetesCluster(let spec): try container.encode(spec, forKey: .spec)
        }
    }
}
