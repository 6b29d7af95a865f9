/// The kinds of resource meshrelay stores, with the API group, version, plural and short names
/// that Gloo Mesh users already type.
public enum ResourceKind: String, CaseIterable, Sendable, Hashable, Codable, Comparable {
    case externalService = "ExternalService"
    case externalEndpoint = "ExternalEndpoint"
    case workspace = "Workspace"
    case kubernetesCluster = "KubernetesCluster"

    /// The API group, e.g. `networking.gloo.solo.io`.
    public var group: String {
        switch self {
        case .externalService, .externalEndpoint: "networking.gloo.solo.io"
        case .workspace, .kubernetesCluster: "admin.gloo.solo.io"
        }
    }

    /// The API version within the group. Gloo Mesh v2 only.
    public var version: String { "v2" }

    /// `group/version`, as written in a manifest's `apiVersion`.
    public var apiVersion: String { "\(group)/\(version)" }

    /// The lower-case plural used in resource paths (`externalservices`).
    public var plural: String { singular + "s" }

    /// The lower-case singular (`externalservice`).
    public var singular: String { rawValue.lowercased() }

    /// kubectl-style short names.
    public var shortNames: [String] {
        switch self {
        case .externalService: ["es"]
        case .externalEndpoint: ["ep", "ee"]
        case .workspace: ["ws"]
        case .kubernetesCluster: ["kc", "cluster", "clusters"]
        }
    }

    /// Every kind is namespaced, as in Gloo Mesh (Workspaces and KubernetesClusters live in the
    /// management namespace).
    public var isNamespaced: Bool { true }

    /// Whether resources of this kind are sent to clusters (ExternalService, ExternalEndpoint).
    /// The others (Workspace, KubernetesCluster) decide which clusters the distributed ones go to.
    public var isDistributed: Bool {
        switch self {
        case .externalService, .externalEndpoint: true
        case .workspace, .kubernetesCluster: false
        }
    }

    /// Finds a kind by any name a user may type: the kind (`ExternalService`), singular, plural,
    /// short name, or `plural.group` (`externalservices.networking.gloo.solo.io`); case-insensitive.
    /// - Parameter name: What the user typed.
    /// - Returns: The kind, or `nil` when nothing matches.
    public static func lookup(_ name: String) -> ResourceKind? {
        let lowered = name.lowercased()
        for kind in allCases {
            if lowered == kind.singular || lowered == kind.plural || kind.shortNames.contains(lowered)
                || lowered == "\(kind.plural).\(kind.group)" || lowered == "\(kind.singular).\(kind.group)"
            {
                return kind
            }
        }
        return nil
    }

    /// Finds the kind a manifest declares by its `apiVersion` and `kind`, both exact.
    public static func forManifest(apiVersion: String, kind: String) -> ResourceKind? {
        allCases.first { $0.apiVersion == apiVersion && $0.rawValue == kind }
    }

    /// Finds the kind addressed by an API path's group, version and plural.
    public static func forPath(group: String, version: String, plural: String) -> ResourceKind? {
        allCases.first { $0.group == group && $0.version == version && $0.plural == plural }
    }

    /// Human list of the known kinds for error messages:
    /// `ExternalService (networking.gloo.solo.io/v2), …`.
    public static var knownKindsDescription: String {
        allCases.map { "\($0.rawValue) (\($0.apiVersion))" }.joined(separator: ", ")
    }

    /// Orders kinds so that an apply creates what others refer to first: clusters, workspaces,
    /// endpoints, then services.
    public var applyOrder: Int {
        switch self {
        case .kubernetesCluster: 0
        case .workspace: 1
        case .externalEndpoint: 2
        case .externalService: 3
        }
    }

    public static func < (lhs: ResourceKind, rhs: ResourceKind) -> Bool {
        lhs.applyOrder < rhs.applyOrder
    }
}

/// Identifies one stored resource: kind, namespace and name.
public struct ResourceKey: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    public var kind: ResourceKind
    public var namespace: String
    public var name: String

    public init(kind: ResourceKind, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    /// `ExternalService global/google`.
    public var description: String { "\(kind.rawValue) \(namespace)/\(name)" }

    public static func < (lhs: ResourceKey, rhs: ResourceKey) -> Bool {
        (lhs.kind.applyOrder, lhs.namespace, lhs.name) < (rhs.kind.applyOrder, rhs.namespace, rhs.name)
    }
}
