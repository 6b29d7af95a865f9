import MeshRelayModel

/// Translates a cluster's snapshot into Envoy dynamic resources, Istio manifests and one outcome
/// per resource. Pure and deterministic: equal input gives byte-identical output. See
/// docs/translation.md for the mapping.
public enum Translator {
    /// Translates a snapshot.
    /// - Parameter input: The cluster's ExternalServices and ExternalEndpoints, outbound policy,
    ///   gateway listeners and version.
    /// - Returns: The Envoy files (write them in ``EnvoyFiles/inWriteOrder``), the Istio manifests
    ///   and the outcomes (APPLIED, WARNING with a message, FAILED for resources that cannot be
    ///   translated; a failed resource never stops the others).
    /// - Throws: ``TranslationError`` with code `invalidGateway` when the gateway configuration is
    ///   unusable (nothing depends on the resources).
    public static func translate(_ input: TranslationInput) throws(TranslationError) -> TranslationOutput {
        try validate(input.gateway)
        let plan = makePlan(input)
        let envoy = input.outputs.contains(.envoy) ? EnvoyConfigBuilder(plan: plan, input: input).build() : EnvoyFiles(clusters: [], routes: [], listeners: [])
        let istio = input.outputs.contains(.istio) ? IstioManifestBuilder(plan: plan).build() : [:]
        return TranslationOutput(versionInfo: input.versionInfo, envoy: envoy, istio: istio, outcomes: outcomes(plan, input))
    }

    // MARK: Gateway

    static func validate(_ gateway: GatewayConfiguration) throws(TranslationError) {
        guard gateway.configDirectory.hasPrefix("/") else {
            throw TranslationError(
                .invalidGateway,
                "the Envoy config directory \"\(gateway.configDirectory)\" is not absolute; Envoy reads path_config_source paths as given: pass an absolute directory"
            )
        }
        var listeners = [("HTTP proxy", gateway.httpListener)]
        if let tls = gateway.tlsListener { listeners.append(("TLS", tls)) }
        if let transparent = gateway.transparentListener { listeners.append(("transparent", transparent)) }
        for (what, address) in listeners {
            guard IPAddress(address.host) != nil else {
                throw TranslationError(
                    .invalidGateway, "the \(what) listener host \"\(address.host)\" is not an IP address; use one such as 127.0.0.1 or 0.0.0.0")
            }
            guard (1...65535).contains(address.port) else {
                throw TranslationError(.invalidGateway, "the \(what) listener port \(address.port) is out of range; use 1-65535")
            }
        }
        for (index, (what, address)) in listeners.enumerated() {
            for (otherWhat, other) in listeners[..<index] where other == address {
                throw TranslationError(
                    .invalidGateway, "the \(what) and \(otherWhat) listeners both use \(address); give each its own port")
            }
        }
        guard gateway.connectTimeoutMilliseconds > 0 else {
            throw TranslationError(
                .invalidGateway, "the connect timeout \(gateway.connectTimeoutMilliseconds) ms is not positive; use for example 5000")
        }
    }

    // MARK: Plan

    static func makePlan(_ input: TranslationInput) -> TranslationPlan {
        // Endpoints: invalid ones are FAILED and never selected.
        var endpointFailures: [ResourceKey: String] = [:]
        var endpoints: [SnapshotEndpoint] = []
        for endpoint in input.endpoints.sorted(by: { $0.key < $1.key }) {
            let resource = Resource(
                metadata: ObjectMeta(name: endpoint.name, namespace: endpoint.namespace, labels: endpoint.labels),
                spec: .externalEndpoint(endpoint.spec))
            let violations = Validator.validate(resource)
            if violations.isEmpty {
                endpoints.append(endpoint)
            } else {
                endpointFailures[endpoint.key] = violations.map(\.message).joined(separator: "; ")
            }
        }
        let index = EndpointIndex(endpoints)

        // Services in precedence order: oldest first (unknown creation last), then namespace, name.
        var seenServices = Set<ResourceKey>()
        let ordered = input.services.filter { seenServices.insert($0.key).inserted }.sorted(by: precedes)
        var plans: [ServicePlan] = []
        plans.reserveCapacity(ordered.count)
        var winners: [ClaimKey: ResourceKey] = [:]
        winners.reserveCapacity(ordered.count)
        var routes: [Route] = []
        routes.reserveCapacity(ordered.count)

        for service in ordered {
            var plan = ServicePlan(service: service)
            let resource = Resource(
                metadata: ObjectMeta(name: service.name, namespace: service.namespace, labels: service.labels),
                spec: .externalService(service.spec))
            let violations = Validator.validate(resource)
            guard violations.isEmpty else {
                plan.failure = violations.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
                plans.append(plan)
                continue
            }
            plan.selected = index.select(service.spec.selector ?? [:])
            if let selector = service.spec.selector, !selector.isEmpty, plan.selected.isEmpty {
                plan.warnings.append(
                    "selector \(describe(selector)) selects no ExternalEndpoint in this cluster, so hosts are resolved by DNS; create ExternalEndpoints with these labels or remove the selector"
                )
            }
            var lost: [ResourceKey: [String]] = [:]
            let destinations: [Destination] =
                (service.spec.hosts ?? []).map { .host($0) }
                + (service.spec.addresses ?? []).compactMap { CIDRRange($0).map { .address($0) } }
            for destination in destinations {
                for port in service.spec.ports ?? [] {
                    let claim = ClaimKey(destination: destination, port: port.number)
                    if let winner = winners[claim] {
                        lost[winner, default: []].append("\(destination.text):\(port.number)")
                        continue
                    }
                    winners[claim] = service.key
                    let route = makeRoute(destination, port, service: service, selected: plan.selected, warnings: &plan.warnings)
                    plan.routes.append(route)
                    plan.keptDestinations.insert(destination)
                    plan.keptPorts.insert(port.number)
                }
            }
            for winner in lost.keys.sorted() {
                let pairs = lost[winner] ?? []
                plan.warnings.append(
                    "\(pairs.joined(separator: ", ")) \(pairs.count == 1 ? "is" : "are") already claimed by \(winner), which wins (created earlier, or first by namespace/name); this service is not applied for \(pairs.count == 1 ? "it" : "them"): change the host or port, or delete one of the two"
                )
            }
            planWarnings(&plan, input: input)
            routes.append(contentsOf: plan.routes)
            plans.append(plan)
        }
        routes.sort { ($0.clusterName) < ($1.clusterName) }
        plans.sort { $0.service.key < $1.service.key }
        return TranslationPlan(services: plans, routes: routes, endpointFailures: endpointFailures)
    }

    /// Warnings about the winning routes of a service.
    static func planWarnings(_ plan: inout ServicePlan, input: TranslationInput) {
        let wildcards = plan.routes.filter { $0.upstream == .dynamicForwardProxy }.map(\.destination.text)
        if input.policy == .registryOnly, !wildcards.isEmpty {
            let hosts = Array(Set(wildcards)).sorted()
            plan.warnings.append(
                "wildcard host\(hosts.count == 1 ? "" : "s") \(hosts.joined(separator: ", ")) without ExternalEndpoints can bypass REGISTRY_ONLY: any name under it is forwarded to wherever DNS points (as TCP passthrough does in Istio); select ExternalEndpoints to pin where it goes"
            )
        }
        let ranges = Array(Set(plan.routes.filter { $0.destination.isRange }.map(\.destination.text))).sorted()
        if !ranges.isEmpty, input.gateway.transparentListener == nil {
            plan.warnings.append(
                "address range\(ranges.count == 1 ? "" : "s") \(ranges.joined(separator: ", ")) can only be matched by original destination, and this gateway has no transparent listener; list single addresses (reachable through CONNECT) or configure a transparent listener"
            )
        }
    }

    /// The route of one winning claim.
    static func makeRoute(
        _ destination: Destination, _ port: ExternalServicePort, service: SnapshotService, selected: [SnapshotEndpoint],
        warnings: inout [String]
    ) -> Route {
        let portLabel = port.name.map { "port \(port.number) (\($0))" } ?? "port \(port.number)"
        var origination: ClientsideTLS?
        if let tls = port.clientsideTls, let mode = tls.mode {
            switch mode {
            case .simple, .mutual:
                origination = tls
                if tls.credentialName != nil {
                    appendOnce(
                        &warnings,
                        "\(portLabel): clientsideTls.credentialName is not supported by the Envoy gateway (no secret discovery); set caCertificates/clientCertificate/privateKey file paths"
                    )
                }
            case .istioMutual:
                appendOnce(
                    &warnings,
                    "\(portLabel): clientsideTls mode ISTIO_MUTUAL needs Istio's identity and is not originated by the Envoy gateway (the Istio output keeps it); requests go out as the client sent them"
                )
            case .disable:
                break
            }
        }
        let isHTTPProtocol = port.protocol == .http || port.protocol == .http2 || port.protocol == .grpc
        let carriage: Carriage = (isHTTPProtocol || origination != nil) ? .http : .opaque

        let upstream: Upstream
        if !selected.isEmpty {
            var resolved: [UpstreamEndpoint] = []
            for endpoint in selected {
                guard let number = endpointPort(for: port, of: endpoint.spec) else {
                    appendOnce(
                        &warnings,
                        "\(endpoint.key) has no port matching \(portLabel) (by targetPort, name or number); it serves no requests for that port"
                    )
                    continue
                }
                resolved.append(UpstreamEndpoint(address: address(of: endpoint.spec.address), port: number, locality: endpoint.spec.locality))
            }
            resolved = Array(Set(resolved)).sorted()
            let hasDNS = resolved.contains { if case .dns = $0.address { true } else { false } }
            if hasDNS {
                let unix = resolved.filter { if case .unix = $0.address { true } else { false } }
                if !unix.isEmpty {
                    appendOnce(
                        &warnings,
                        "\(portLabel): unix socket endpoints cannot be mixed with DNS-named endpoints in one upstream; the unix sockets are left out"
                    )
                }
                upstream = .dnsEndpoints(resolved.filter { if case .unix = $0.address { false } else { true } })
            } else {
                if resolved.isEmpty {
                    appendOnce(
                        &warnings,
                        "no selected ExternalEndpoint serves \(portLabel): requests to it fail with 503; add a matching port to the endpoints"
                    )
                }
                upstream = .staticEndpoints(resolved)
            }
        } else {
            if port.targetPort?.name != nil {
                appendOnce(
                    &warnings,
                    "\(portLabel): targetPort.name needs selected ExternalEndpoints to name a port; port \(port.number) is used"
                )
            }
            switch destination {
            case .host(let host) where host.hasPrefix("*."):
                if port.targetPort != nil {
                    appendOnce(
                        &warnings,
                        "\(portLabel): targetPort is ignored for the wildcard host \(host) without endpoints; the requested port is used"
                    )
                }
                upstream = .dynamicForwardProxy
            case .host(let host):
                let number = port.targetPort?.number ?? port.number
                upstream = .dnsEndpoints([UpstreamEndpoint(address: .dns(host), port: number, locality: nil)])
            case .address(let range):
                if range.isSingleAddress {
                    let number = port.targetPort?.number ?? port.number
                    upstream = .staticEndpoints([UpstreamEndpoint(address: .ip(range.address.description), port: number, locality: nil)])
                } else {
                    upstream = .originalDestination
                }
            }
        }
        return Route(
            destination: destination, port: port, owner: service.key, carriage: carriage, upstream: upstream,
            origination: origination, subjectAltNames: service.spec.subjectAltNames ?? [])
    }

    /// The endpoint port serving a service port: `targetPort.name`, `targetPort.number`, the
    /// endpoint port named like the service port, the one with the same number, or the endpoint's
    /// only unnamed port.
    static func endpointPort(for port: ExternalServicePort, of endpoint: ExternalEndpointSpec) -> Int? {
        let ports = endpoint.ports ?? []
        if let target = port.targetPort {
            if let name = target.name { return ports.first { $0.name == name }?.number }
            if let number = target.number { return number }
        }
        if let name = port.name, let match = ports.first(where: { $0.name == name }) { return match.number }
        if let match = ports.first(where: { $0.number == port.number }) { return match.number }
        if ports.count == 1, let only = ports.first, only.name == nil { return only.number }
        return nil
    }

    static func address(of text: String) -> UpstreamEndpoint.Address {
        if let ip = IPAddress(text) { return .ip(ip.description) }
        if text.hasPrefix("unix://") { return .unix(String(text.dropFirst("unix://".count))) }
        return .dns(text)
    }

    /// Whether `lhs` takes precedence over `rhs` for a contested claim.
    static func precedes(_ lhs: SnapshotService, _ rhs: SnapshotService) -> Bool {
        switch (lhs.creationTimestamp, rhs.creationTimestamp) {
        case (let left?, let right?) where left != right: return left < right
        case (.some, nil): return true
        case (nil, .some): return false
        default: return (lhs.namespace, lhs.name) < (rhs.namespace, rhs.name)
        }
    }

    static func describe(_ selector: [String: String]) -> String {
        "{" + selector.keys.sorted().map { "\($0): \(selector[$0] ?? "")" }.joined(separator: ", ") + "}"
    }

    static func appendOnce(_ warnings: inout [String], _ warning: String) {
        if !warnings.contains(warning) { warnings.append(warning) }
    }

    // MARK: Outcomes

    static func outcomes(_ plan: TranslationPlan, _ input: TranslationInput) -> [ResourceOutcome] {
        var outcomes: [ResourceOutcome] = []
        for service in plan.services {
            if let failure = service.failure {
                outcomes.append(ResourceOutcome(key: service.service.key, state: .failed, message: failure))
            } else if service.warnings.isEmpty {
                outcomes.append(ResourceOutcome(key: service.service.key, state: .applied))
            } else {
                outcomes.append(
                    ResourceOutcome(key: service.service.key, state: .warning, message: service.warnings.joined(separator: "; ")))
            }
        }
        for endpoint in input.endpoints {
            if let failure = plan.endpointFailures[endpoint.key] {
                outcomes.append(ResourceOutcome(key: endpoint.key, state: .failed, message: failure))
            } else {
                outcomes.append(ResourceOutcome(key: endpoint.key, state: .applied))
            }
        }
        for (key, message) in input.undecodable {
            outcomes.append(ResourceOutcome(key: key, state: .failed, message: message))
        }
        // One outcome per key (a duplicated input key keeps its first outcome).
        var seen = Set<ResourceKey>()
        return outcomes.sorted { $0.key < $1.key }.filter { seen.insert($0.key).inserted }
    }
}

/// A contested pair: a host or address and a port number.
struct ClaimKey: Hashable {
    var destination: Destination
    var port: Int
}

/// ExternalEndpoints by label, for selectors.
struct EndpointIndex {
    private let endpoints: [SnapshotEndpoint]
    private let byLabel: [String: [Int]]

    init(_ endpoints: [SnapshotEndpoint]) {
        self.endpoints = endpoints
        var byLabel: [String: [Int]] = [:]
        for (position, endpoint) in endpoints.enumerated() {
            for (key, value) in endpoint.labels {
                byLabel[key + "=" + value, default: []].append(position)
            }
        }
        self.byLabel = byLabel
    }

    /// Endpoints whose labels include every pair of `selector`, sorted by key; none for an empty
    /// selector.
    func select(_ selector: [String: String]) -> [SnapshotEndpoint] {
        guard !selector.isEmpty else { return [] }
        let candidates = selector.map { byLabel[$0.key + "=" + $0.value] ?? [] }.min { $0.count < $1.count } ?? []
        return candidates.map { endpoints[$0] }.filter { endpoint in
            selector.allSatisfy { endpoint.labels[$0.key] == $0.value }
        }
    }
}
