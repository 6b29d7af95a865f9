public import Foundation
public import MeshRelayModel
public import MeshRelayStore

/// A resource's overall state, as `GET /api/v1/status` and the resource's `status` report it.
public enum ResourceState: String, Codable, Sendable, Hashable, CaseIterable {
    /// Valid, and applied wherever it is meant to be (or meant for no cluster).
    case accepted = "ACCEPTED"
    /// Applied, but at least one cluster (or the translation) reported a warning.
    case warning = "WARNING"
    /// Stored, but breaks a validation rule of this server version.
    case invalid = "INVALID"
    /// At least one cluster rejected it (NACK).
    case failed = "FAILED"
    /// At least one selected cluster has not applied the current generation yet.
    case pending = "PENDING"
}

/// `GET /api/v1/status`: the stable contract documented in docs/api.md.
public struct StatusReport: Codable, Sendable, Hashable {
    public struct Cluster: Codable, Sendable, Hashable {
        public var name: String
        /// A `KubernetesCluster` resource names this cluster.
        public var registered: Bool
        public var connected: Bool
        public var appliedRevision: Int64
        /// `revision - appliedRevision` (0 when the cluster is current).
        public var lag: Int64
        public var lastSeen: String?
        public var agentVersion: String?
        public var outboundPolicy: String?
        /// When the client certificate of the cluster's session expires (RFC 3339); nil when no
        /// session of the cluster is held by the replica that answered.
        public var certificateExpires: String? = nil
        /// The agent's data plane as it last reported it (`HEALTHY`, `UNHEALTHY`, `NONE`); nil
        /// when it never reported one.
        public var dataPlane: String? = nil
        /// Why, when unhealthy; what runs, when healthy.
        public var dataPlaneMessage: String? = nil
    }

    /// One of the server's own certificates (`ca.crt`, each CA of a bundle, and `server.crt`).
    public struct CertificateEntry: Codable, Sendable, Hashable {
        /// `ca.crt` or `server.crt`.
        public var file: String
        public var subject: String
        public var notAfter: String
        public var daysLeft: Int

        public init(file: String, subject: String, notAfter: String, daysLeft: Int) {
            self.file = file
            self.subject = subject
            self.notAfter = notAfter
            self.daysLeft = daysLeft
        }
    }

    public struct ResourceCluster: Codable, Sendable, Hashable {
        public var name: String
        /// APPLIED, PENDING, FAILED or WARNING.
        public var state: ClusterResourceState
        public var message: String
        public var observedGeneration: Int64?
        /// Since when this state holds (RFC 3339): when the agent reported it, or for PENDING when
        /// the generation it waits for was committed.
        public var since: String? = nil
        /// Seconds from the commit of the resource's current generation to the agent's report of
        /// it (APPLIED, WARNING or FAILED).
        public var appliedAfterSeconds: Double? = nil
    }

    public struct ResourceEntry: Codable, Sendable, Hashable {
        public var kind: String
        public var namespace: String
        public var name: String
        public var generation: Int64
        public var state: ResourceState
        public var message: String
        public var clusters: [ResourceCluster]
        /// When the current generation was committed (RFC 3339).
        public var updated: String? = nil
    }

    public var revision: Int64
    public var compactedRevision: Int64
    public var generatedAt: String
    public var clusters: [Cluster]
    public var resources: [ResourceEntry]
    /// The server's own certificates; empty without `--certs-dir`.
    public var certificates: [CertificateEntry] = []
}

/// Everything needed to compute resources' states, gathered once and reused for every resource.
public struct StatusContext: Sendable {
    public let revision: Int64
    public let registeredClusters: [String]
    public let workspaces: [WorkspaceSpec]
    public let clusterRecords: [String: ClusterStatusRecord]
    /// The kept exceptions (FAILED, WARNING) by cluster and resource.
    public let statusRecords: [String: [ResourceKey: ResourceStatusRecord]]
    /// The store's ``ResourceStore/viewRevision()``.
    public let viewRevision: Int64
    let validation: ValidationCache

    public init(
        revision: Int64, registeredClusters: [String], workspaces: [WorkspaceSpec],
        clusterRecords: [ClusterStatusRecord], statusRecords: [ResourceStatusRecord], viewRevision: Int64,
        validation: ValidationCache = ValidationCache()
    ) {
        self.validation = validation
        self.viewRevision = viewRevision
        self.revision = revision
        self.registeredClusters = Array(Set(registeredClusters)).sorted()
        self.workspaces = workspaces
        self.clusterRecords = Dictionary(clusterRecords.map { ($0.cluster, $0) }, uniquingKeysWith: { first, _ in first })
        var byCluster: [String: [ResourceKey: ResourceStatusRecord]] = [:]
        for record in statusRecords {
            byCluster[record.cluster, default: [:]][record.key] = record
        }
        self.statusRecords = byCluster
    }

    /// Reads what it needs from the store: registered clusters, workspaces, agents' records.
    public static func load(from store: any ResourceStore, validation: ValidationCache = ValidationCache()) async throws -> StatusContext {
        let revision = try await store.revision()
        let clusters = try await store.list(kind: .kubernetesCluster, namespace: nil)
        let workspaces = try await store.list(kind: .workspace, namespace: nil).compactMap { stored -> WorkspaceSpec? in
            if case .workspace(let spec) = stored.resource.spec { return spec }
            return nil
        }
        return StatusContext(
            revision: revision,
            registeredClusters: clusters.map(\.key.name),
            workspaces: workspaces,
            clusterRecords: try await store.clusterStatuses(),
            statusRecords: try await store.resourceStatuses(cluster: nil),
            viewRevision: try await store.viewRevision(),
            validation: validation
        )
    }

    /// The clusters a resource is distributed to. Admin resources (Workspace, KubernetesCluster)
    /// are not distributed.
    public func targetClusters(of key: ResourceKey) -> [String] {
        switch key.kind {
        case .workspace, .kubernetesCluster:
            return []
        case .externalService, .externalEndpoint:
            return WorkspaceSelection.targetClusters(namespace: key.namespace, workspaces: workspaces, registeredClusters: registeredClusters)
        }
    }

    /// The state of one stored resource, overall and per selected cluster.
    ///
    /// Per cluster: a kept exception (FAILED, WARNING) for the current generation says so;
    /// otherwise the resource is APPLIED when the cluster's agent holds a revision at least its
    /// `resourceVersion` and the ``viewRevision`` (then the view it holds has this version of the
    /// resource), else PENDING.
    public func entry(for stored: StoredResource) -> StatusReport.ResourceEntry {
        let key = stored.key
        // The revision whose view a cluster must hold to hold this version of the resource.
        let required = max(stored.resourceVersion, viewRevision)
        var clusters: [StatusReport.ResourceCluster] = []
        for cluster in targetClusters(of: key) {
            let exception = statusRecords[cluster]?[key]
            let connection = clusterRecords[cluster]
            if let record = exception, record.observedGeneration == stored.generation {
                clusters.append(
                    .init(
                        name: cluster, state: record.state, message: record.message, observedGeneration: record.observedGeneration,
                        since: RFC3339.string(from: record.updatedAt),
                        appliedAfterSeconds: Self.seconds(from: stored.updatedAt, to: record.updatedAt)
                    )
                )
            } else if let connection, connection.appliedRevision >= required {
                let appliedAt = connection.appliedTime(of: required)
                clusters.append(
                    .init(
                        name: cluster, state: .applied, message: "", observedGeneration: stored.generation,
                        since: appliedAt.map(RFC3339.string(from:)),
                        // From the commit of this version, when that is what the cluster waited
                        // for (not a later Workspace change).
                        appliedAfterSeconds: required == stored.resourceVersion ? appliedAt.map { Self.seconds(from: stored.updatedAt, to: $0) } : nil
                    )
                )
            } else {
                let message: String
                if let connection, connection.connected {
                    message = "waiting for the agent to apply generation \(stored.generation)"
                } else if let lastSeen = connection?.lastSeen {
                    message = "agent disconnected since \(RFC3339.string(from: lastSeen))"
                } else {
                    message = "no agent has connected for this cluster yet"
                }
                clusters.append(
                    .init(
                        name: cluster, state: .pending, message: message, observedGeneration: exception?.observedGeneration,
                        since: RFC3339.string(from: stored.updatedAt)
                    )
                )
            }
        }
        let (state, message) = summarize(stored: stored, clusters: clusters)
        return .init(
            kind: key.kind.rawValue, namespace: key.namespace, name: key.name,
            generation: stored.generation, state: state, message: message, clusters: clusters,
            updated: RFC3339.string(from: stored.updatedAt)
        )
    }

    /// Seconds from `start` to `end`, to the millisecond, never negative.
    static func seconds(from start: Date, to end: Date) -> Double {
        max(0, (end.timeIntervalSince(start) * 1000).rounded() / 1000)
    }

    private func summarize(stored: StoredResource, clusters: [StatusReport.ResourceCluster]) -> (ResourceState, String) {
        if let problems = validation.problems(of: stored) {
            return (.invalid, problems)
        }
        if clusters.isEmpty {
            switch stored.key.kind {
            case .workspace, .kubernetesCluster:
                return (.accepted, "")
            case .externalService, .externalEndpoint:
                return (.accepted, registeredClusters.isEmpty ? "no cluster is registered yet" : "no workspace selects a registered cluster for namespace \(stored.key.namespace)")
            }
        }
        let applied = clusters.filter { $0.state == .applied || $0.state == .warning }.count
        let failed = clusters.filter { $0.state == .failed }
        let warnings = clusters.filter { $0.state == .warning }
        let pending = clusters.filter { $0.state == .pending }
        var parts = ["\(applied)/\(clusters.count) clusters applied"]
        parts += Self.grouped(failed, "failed")
        parts += Self.grouped(warnings, "warning")
        parts += Self.grouped(pending, "pending")
        let message = parts.joined(separator: "; ")
        if !failed.isEmpty { return (.failed, message) }
        if !warnings.isEmpty { return (.warning, message) }
        if !pending.isEmpty { return (.pending, message) }
        return (.accepted, message)
    }

    /// `cluster-1, cluster-2 warning: MESSAGE`: clusters that say the same thing are named together.
    static func grouped(_ clusters: [StatusReport.ResourceCluster], _ word: String) -> [String] {
        var order: [String] = []
        var names: [String: [String]] = [:]
        for cluster in clusters {
            if names[cluster.message] == nil { order.append(cluster.message) }
            names[cluster.message, default: []].append(cluster.name)
        }
        return order.map { message in "\(names[message, default: []].joined(separator: ", ")) \(word): \(message)" }
    }

    /// The whole report.
    /// - Parameters:
    ///   - certificates: The server's own certificates.
    ///   - agentCertificates: When the client certificate of each cluster's live session expires.
    public func report(
        resources: [StoredResource], compactedRevision: Int64, now: Date, certificates: [StatusReport.CertificateEntry] = [],
        agentCertificates: [String: Date] = [:]
    ) -> StatusReport {
        var names = Set(registeredClusters)
        names.formUnion(clusterRecords.keys)
        let registered = Set(registeredClusters)
        let clusters = names.sorted().map { name -> StatusReport.Cluster in
            let record = clusterRecords[name]
            let applied = record?.appliedRevision ?? 0
            return .init(
                name: name, registered: registered.contains(name), connected: record?.connected ?? false,
                appliedRevision: applied, lag: max(0, revision - applied),
                lastSeen: record?.lastSeen.map(RFC3339.string(from:)), agentVersion: record?.agentVersion,
                outboundPolicy: record?.outboundPolicy, certificateExpires: agentCertificates[name].map(RFC3339.string(from:)),
                dataPlane: record?.dataPlaneState, dataPlaneMessage: record?.dataPlaneMessage
            )
        }
        return StatusReport(
            revision: revision, compactedRevision: compactedRevision, generatedAt: RFC3339.string(from: now),
            clusters: clusters, resources: resources.map(entry(for:)), certificates: certificates
        )
    }
}
