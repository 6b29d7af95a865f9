/// Decodes a ``ManifestDocument`` into a typed ``Resource``, strictly (unknown fields are
/// violations, as with `kubectl --validate=strict`) and collecting every structural problem with
/// its field path rather than stopping at the first.
///
/// What it accepts:
/// - `apiVersion` and `kind` of a ``ResourceKind``, exactly as Gloo writes them;
/// - `metadata.name` and `metadata.namespace` (both required: meshrelay has no default
///   namespace), `labels` and `annotations`; server-owned metadata (`uid`, `generation`,
///   `resourceVersion`, `creationTimestamp`, `managedFields`, …) is ignored, and so is a top-level
///   `status`, so `kubectl get -o yaml` output can be applied as it is;
/// - the kind's `spec`, field by field (required for ExternalService and ExternalEndpoint).
///
/// JSON `null` reads as an absent field. Semantic rules (name formats, ports, hosts) belong to
/// ``Validator``.
public enum ResourceDecoder {
    /// The result of decoding one document.
    public enum Outcome: Sendable, Hashable {
        /// The document is structurally valid.
        case decoded(Resource)
        /// Every structural problem of the document (at least one).
        case invalid([Violation])

        /// The resource, when decoding succeeded.
        public var resource: Resource? {
            if case .decoded(let resource) = self { resource } else { nil }
        }

        /// The violations; empty when decoding succeeded.
        public var violations: [Violation] {
            if case .invalid(let violations) = self { violations } else { [] }
        }
    }

    /// Top-level fields of a manifest object.
    public static let topLevelFields = ["apiVersion", "kind", "metadata", "spec"]
    /// Top-level fields accepted and ignored: the server owns `status`.
    public static let ignoredTopLevelFields: Set<String> = ["status"]
    /// `metadata` fields a user sets.
    public static let metadataFields = ["name", "namespace", "labels", "annotations"]
    /// `metadata` fields accepted and ignored: the server owns them (or meshrelay does not use them).
    public static let ignoredMetadataFields: Set<String> = [
        "uid", "generation", "resourceVersion", "creationTimestamp", "deletionTimestamp",
        "deletionGracePeriodSeconds", "managedFields", "selfLink", "ownerReferences", "finalizers",
    ]

    /// Decodes one document.
    /// - Parameter document: A document from ``ManifestParser/parse(_:)``.
    /// - Returns: The resource, or every structural violation. Violations name the resource as
    ///   `ExternalService global/google` when its kind, namespace and name are readable, else as
    ///   ``ManifestDocument/label`` (`document 2 (line 9)`).
    public static func decode(_ document: ManifestDocument) -> Outcome {
        let partial = decodePartially(document.value, fallbackSubject: document.label)
        if partial.violations.isEmpty, let resource = partial.resource {
            return .decoded(resource)
        }
        return .invalid(partial.violations)
    }

    /// What ``decodePartially(_:fallbackSubject:)`` found.
    struct Partial {
        /// The resource, when no problem other than unknown fields (which are dropped) was found;
        /// it can then be validated to report semantic problems as well.
        var resource: Resource?
        /// What could be decoded even when problems were found (invalid parts are left out or
        /// replaced by placeholders that keep list indices stable), so that semantic rules can
        /// still be checked and reported in the same answer.
        var draft: Resource?
        var violations: [Violation]
        var subject: String
    }

    /// Decodes one object, keeping the resource when only unknown fields were wrong.
    static func decodePartially(_ value: JSONValue, fallbackSubject: String) -> Partial {
        let subject = Self.subject(of: value) ?? fallbackSubject
        var context = DecodingContext(subject: subject)
        guard case .object = value else {
            context.report(
                "", .wrongType,
                "a manifest document must be a mapping with apiVersion, kind, metadata and spec; got \(value.typeDescription)"
            )
            return Partial(resource: nil, draft: nil, violations: context.violations, subject: subject)
        }
        let resource = decodeResource(value, &context)
        return Partial(
            resource: context.isBuildable ? resource : nil, draft: resource, violations: context.violations,
            subject: subject
        )
    }

    /// `ExternalService global/google` when kind, namespace and name are non-empty strings.
    static func subject(of value: JSONValue) -> String? {
        guard case .object(let object) = value,
            case .string(let kind)? = object["kind"], !kind.isEmpty,
            case .object(let metadata)? = object["metadata"],
            case .string(let namespace)? = metadata["namespace"], !namespace.isEmpty,
            case .string(let name)? = metadata["name"], !name.isEmpty
        else { return nil }
        return "\(kind) \(namespace)/\(name)"
    }

    // MARK: - Object

    private static func decodeResource(_ value: JSONValue, _ context: inout DecodingContext) -> Resource? {
        guard
            let object = context.mapping(value, at: "", known: topLevelFields, ignored: ignoredTopLevelFields)
        else { return nil }
        let apiVersion = context.string(object, "apiVersion", at: "", required: true)
        let kindName = context.string(object, "kind", at: "", required: true)
        var kind: ResourceKind?
        if let apiVersion, let kindName {
            kind = ResourceKind.forManifest(apiVersion: apiVersion, kind: kindName)
            if kind == nil {
                if let known = ResourceKind(rawValue: kindName) {
                    context.report(
                        "apiVersion", .unknownKind,
                        "\(kindName) is served as \(known.apiVersion), not \(apiVersion); known kinds: \(ResourceKind.knownKindsDescription)"
                    )
                } else {
                    context.report(
                        "kind", .unknownKind,
                        "unknown kind \"\(kindName)\" in \(apiVersion); known kinds: \(ResourceKind.knownKindsDescription)"
                    )
                }
            }
        }
        let metadata = decodeMetadata(object, &context)
        guard let kind else { return nil }
        let spec: ResourceSpec?
        switch kind {
        case .externalService:
            spec = context.field(object, "spec", at: "", required: true, requiredMessage: "required")
                .flatMap { decodeExternalService($0, &context) }
                .map(ResourceSpec.externalService)
        case .externalEndpoint:
            spec = context.field(object, "spec", at: "", required: true, requiredMessage: "required")
                .flatMap { decodeExternalEndpoint($0, &context) }
                .map(ResourceSpec.externalEndpoint)
        case .workspace:
            spec = decodeWorkspace(object["spec"] ?? .null, &context).map(ResourceSpec.workspace)
        case .kubernetesCluster:
            spec = decodeKubernetesCluster(object["spec"] ?? .null, &context).map(ResourceSpec.kubernetesCluster)
        }
        guard let metadata, let spec else { return nil }
        return Resource(metadata: metadata, spec: spec)
    }

    private static func decodeMetadata(_ object: [String: JSONValue], _ context: inout DecodingContext) -> ObjectMeta? {
        guard let value = context.field(object, "metadata", at: "", required: true, requiredMessage: "required"),
            let metadata = context.mapping(
                value, at: "metadata", known: metadataFields, ignored: ignoredMetadataFields
            )
        else { return nil }
        let name = context.string(metadata, "name", at: "metadata", required: true)
        let namespace = context.string(
            metadata, "namespace", at: "metadata", required: true,
            requiredMessage: "required; meshrelay has no default namespace"
        )
        let labels = context.stringMap(metadata, "labels", at: "metadata")
        let annotations = context.stringMap(metadata, "annotations", at: "metadata")
        guard let name, let namespace else { return nil }
        return ObjectMeta(name: name, namespace: namespace, labels: labels, annotations: annotations)
    }

    // MARK: - ExternalService

    /// The fields of ExternalService `spec`.
    public static let externalServiceFields = ["hosts", "addresses", "ports", "subjectAltNames", "selector"]
    /// The fields of an ExternalService port.
    public static let externalServicePortFields = [
        "name", "number", "protocol", "targetPort", "clientsideTls", "egressGatewayRoutes",
    ]
    /// The fields of a port's `targetPort`.
    public static let targetPortFields = ["number", "name"]
    /// The fields of a port's `clientsideTls`.
    public static let clientsideTLSFields = [
        "mode", "sni", "caCertificates", "clientCertificate", "privateKey", "credentialName", "insecureSkipVerify",
    ]

    private static func decodeExternalService(
        _ value: JSONValue, _ context: inout DecodingContext
    ) -> ExternalServiceSpec? {
        guard let spec = context.mapping(value, at: "spec", known: externalServiceFields) else { return nil }
        let hosts = context.stringList(spec, "hosts", at: "spec")
        let addresses = context.stringList(spec, "addresses", at: "spec")
        let ports = context.list(spec, "ports", at: "spec") { context, item, path in
            decodeServicePort(item, at: path, &context)
        }
        let subjectAltNames = context.stringList(spec, "subjectAltNames", at: "spec")
        let selector = context.stringMap(spec, "selector", at: "spec")
        return ExternalServiceSpec(
            hosts: hosts, addresses: addresses, ports: ports, subjectAltNames: subjectAltNames, selector: selector
        )
    }

    private static func decodeServicePort(
        _ value: JSONValue, at path: String, _ context: inout DecodingContext
    ) -> ExternalServicePort? {
        guard let port = context.mapping(value, at: path, known: externalServicePortFields) else { return nil }
        let name = context.string(port, "name", at: path)
        let number = context.integer(port, "number", at: path, required: true)
        let portProtocol = context.string(port, "protocol", at: path, required: true).flatMap {
            decodeProtocol($0, at: DecodingContext.path(path, "protocol"), &context)
        }
        let targetPort = context.field(port, "targetPort", at: path, required: false, requiredMessage: "")
            .flatMap { decodeTargetPort($0, at: DecodingContext.path(path, "targetPort"), &context) }
        let clientsideTls = context.field(port, "clientsideTls", at: path, required: false, requiredMessage: "")
            .flatMap { decodeClientsideTLS($0, at: DecodingContext.path(path, "clientsideTls"), &context) }
        let egressGatewayRoutes = context.field(
            port, "egressGatewayRoutes", at: path, required: false, requiredMessage: ""
        )
        // A bad number or protocol is already reported (and makes the resource unbuildable); the
        // port stays in the draft with placeholders so that later ports keep their indices.
        return ExternalServicePort(
            name: name, number: number ?? 0, protocol: portProtocol ?? .tcp, targetPort: targetPort,
            clientsideTls: clientsideTls, egressGatewayRoutes: egressGatewayRoutes
        )
    }

    private static func decodeProtocol(
        _ text: String, at path: String, _ context: inout DecodingContext
    ) -> PortProtocol? {
        if let value = PortProtocol(rawValue: text) { return value }
        let allowed = PortProtocol.allCases.map(\.rawValue).joined(separator: ", ")
        let hint = PortProtocol(rawValue: text.uppercased()).map { " (did you mean \($0.rawValue)?)" } ?? ""
        context.report(path, .protocol, "unknown protocol \"\(text)\"; allowed: \(allowed)\(hint)")
        return nil
    }

    private static func decodeTargetPort(
        _ value: JSONValue, at path: String, _ context: inout DecodingContext
    ) -> TargetPort? {
        guard case .object = value else {
            context.report(
                path, .wrongType,
                "expected a mapping with number or name (for example {number: 8443}), got \(value.typeDescription)"
            )
            return nil
        }
        guard let target = context.mapping(value, at: path, known: targetPortFields) else { return nil }
        let number = context.integer(target, "number", at: path)
        let name = context.string(target, "name", at: path)
        return TargetPort(number: number, name: name)
    }

    private static func decodeClientsideTLS(
        _ value: JSONValue, at path: String, _ context: inout DecodingContext
    ) -> ClientsideTLS? {
        guard let tls = context.mapping(value, at: path, known: clientsideTLSFields) else { return nil }
        let mode = context.string(tls, "mode", at: path).flatMap { text -> ClientsideTLS.Mode? in
            if let mode = ClientsideTLS.Mode(rawValue: text) { return mode }
            let allowed = ClientsideTLS.Mode.allCases.map(\.rawValue).joined(separator: ", ")
            context.report(
                DecodingContext.path(path, "mode"), .tlsMode, "unknown TLS mode \"\(text)\"; allowed: \(allowed)"
            )
            return nil
        }
        return ClientsideTLS(
            mode: mode,
            sni: context.string(tls, "sni", at: path),
            caCertificates: context.string(tls, "caCertificates", at: path),
            clientCertificate: context.string(tls, "clientCertificate", at: path),
            privateKey: context.string(tls, "privateKey", at: path),
            credentialName: context.string(tls, "credentialName", at: path),
            insecureSkipVerify: context.bool(tls, "insecureSkipVerify", at: path)
        )
    }

    // MARK: - ExternalEndpoint

    /// The fields of ExternalEndpoint `spec`.
    public static let externalEndpointFields = ["address", "ports", "locality"]
    /// The fields of an ExternalEndpoint port.
    public static let endpointPortFields = ["name", "number"]
    /// The fields of an ExternalEndpoint `locality`.
    public static let localityFields = ["region", "zone", "subZone"]

    private static func decodeExternalEndpoint(
        _ value: JSONValue, _ context: inout DecodingContext
    ) -> ExternalEndpointSpec? {
        guard let spec = context.mapping(value, at: "spec", known: externalEndpointFields) else { return nil }
        let address = context.string(spec, "address", at: "spec", required: true)
        let ports = context.list(spec, "ports", at: "spec") { context, item, path -> EndpointPort? in
            guard let port = context.mapping(item, at: path, known: endpointPortFields) else { return nil }
            let name = context.string(port, "name", at: path)
            guard let number = context.integer(port, "number", at: path, required: true) else { return nil }
            return EndpointPort(name: name, number: number)
        }
        let locality = context.field(spec, "locality", at: "spec", required: false, requiredMessage: "")
            .flatMap { value -> Locality? in
                guard let locality = context.mapping(value, at: "spec.locality", known: localityFields) else {
                    return nil
                }
                return Locality(
                    region: context.string(locality, "region", at: "spec.locality"),
                    zone: context.string(locality, "zone", at: "spec.locality"),
                    subZone: context.string(locality, "subZone", at: "spec.locality")
                )
            }
        guard let address else { return nil }
        return ExternalEndpointSpec(address: address, ports: ports, locality: locality)
    }

    // MARK: - Workspace and KubernetesCluster

    /// The fields of Workspace `spec`.
    public static let workspaceFields = ["workloadClusters"]
    /// The fields of a Workspace cluster entry.
    public static let workspaceClusterFields = ["name", "namespaces"]
    /// The fields of a Workspace namespace entry.
    public static let workspaceNamespaceFields = ["name"]
    /// The fields of KubernetesCluster `spec`.
    public static let kubernetesClusterFields = ["clusterDomain"]

    private static func decodeWorkspace(_ value: JSONValue, _ context: inout DecodingContext) -> WorkspaceSpec? {
        if value == .null { return WorkspaceSpec() }
        guard let spec = context.mapping(value, at: "spec", known: workspaceFields) else { return nil }
        let clusters = context.list(spec, "workloadClusters", at: "spec") { context, item, path -> WorkspaceCluster? in
            guard let cluster = context.mapping(item, at: path, known: workspaceClusterFields) else { return nil }
            let name = context.string(cluster, "name", at: path, required: true)
            let namespaces = context.list(cluster, "namespaces", at: path) {
                context, item, path -> WorkspaceNamespace? in
                guard let namespace = context.mapping(item, at: path, known: workspaceNamespaceFields),
                    let name = context.string(namespace, "name", at: path, required: true)
                else { return nil }
                return WorkspaceNamespace(name: name)
            }
            guard let name else { return nil }
            return WorkspaceCluster(name: name, namespaces: namespaces)
        }
        return WorkspaceSpec(workloadClusters: clusters)
    }

    private static func decodeKubernetesCluster(
        _ value: JSONValue, _ context: inout DecodingContext
    ) -> KubernetesClusterSpec? {
        if value == .null { return KubernetesClusterSpec() }
        guard let spec = context.mapping(value, at: "spec", known: kubernetesClusterFields) else { return nil }
        return KubernetesClusterSpec(clusterDomain: context.string(spec, "clusterDomain", at: "spec"))
    }
}
