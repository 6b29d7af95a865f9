import MeshRelayModel

/// Builds one `ServiceEntry` per translated ExternalService (and a `DestinationRule` for ports
/// with TLS origination), plus a `kustomization.yaml` listing them.
struct IstioManifestBuilder {
    let plan: TranslationPlan

    static let kustomization = "kustomization.yaml"

    func build() -> [String: String] {
        var files: [String: String] = [:]
        for service in plan.services where service.failure == nil && !service.routes.isEmpty {
            let source = service.service
            files["serviceentry.\(source.namespace).\(source.name).yaml"] = serviceEntry(service).yamlText()
            let rules = destinationRules(service)
            if !rules.isEmpty {
                files["destinationrule.\(source.namespace).\(source.name).yaml"] =
                    rules.map { $0.yamlText() }.joined(separator: "---\n")
            }
        }
        let kustomization: ConfigValue = .object([
            ("apiVersion", .string("kustomize.config.k8s.io/v1beta1")),
            ("kind", .string("Kustomization")),
            ("resources", .array(files.keys.sorted().map { .string($0) })),
        ])
        files[Self.kustomization] = kustomization.yamlText()
        return files
    }

    private func metadata(_ source: SnapshotService, name: String) -> ConfigValue {
        .object([
            ("name", .string(name)),
            ("namespace", .string(source.namespace)),
            (
                "labels",
                .object([
                    ("app.kubernetes.io/managed-by", .string("meshrelay")),
                    ("meshrelay.io/source-kind", .string("ExternalService")),
                    ("meshrelay.io/source-name", .string(source.name)),
                    ("meshrelay.io/source-namespace", .string(source.namespace)),
                ])
            ),
        ])
    }

    /// The Istio port name: the ExternalService's, or `PROTOCOL-NUMBER` (Istio requires one).
    static func portName(_ port: ExternalServicePort) -> String {
        port.name ?? "\(port.protocol.rawValue.lowercased())-\(port.number)"
    }

    private func serviceEntry(_ service: ServicePlan) -> ConfigValue {
        let source = service.service
        let ports = (source.spec.ports ?? []).filter { service.keptPorts.contains($0.number) }
        let hosts = (source.spec.hosts ?? []).filter { service.keptDestinations.contains(.host($0)) }
        let addresses = (source.spec.addresses ?? []).filter { text in
            guard let range = CIDRRange(text) else { return false }
            return service.keptDestinations.contains(.address(range))
        }
        var spec: [(String, ConfigValue)] = []
        if hosts.isEmpty {
            // Istio requires hosts; for address-only services it is just a name.
            spec.append(("hosts", .array([.string("\(source.name).\(source.namespace).meshrelay.internal")])))
            spec.append(("addresses", .array(addresses.map { .string($0) })))
        } else {
            spec.append(("hosts", .array(hosts.map { .string($0) })))
        }
        spec.append(
            (
                "ports",
                .array(
                    ports.map { port in
                        var fields: [(String, ConfigValue)] = [
                            ("number", .int(port.number)),
                            ("name", .string(Self.portName(port))),
                            ("protocol", .string(port.protocol.rawValue)),
                        ]
                        if let target = port.targetPort?.number { fields.append(("targetPort", .int(target))) }
                        return .object(fields)
                    })
            ))
        spec.append(("location", .string("MESH_EXTERNAL")))

        var endpoints: [ConfigValue] = []
        var allIP = true
        for endpoint in service.selected {
            var portMap: [(String, ConfigValue)] = []
            for port in ports {
                if let number = Translator.endpointPort(for: port, of: endpoint.spec) {
                    portMap.append((Self.portName(port), .int(number)))
                }
            }
            guard !portMap.isEmpty else { continue }
            if case .dns = Translator.address(of: endpoint.spec.address) { allIP = false }
            var fields: [(String, ConfigValue)] = [("address", .string(endpoint.spec.address)), ("ports", .object(portMap))]
            if let locality = endpoint.spec.locality {
                let parts = [locality.region, locality.zone, locality.subZone].map { $0 ?? "" }
                var text = parts.joined(separator: "/")
                while text.hasSuffix("/") { text.removeLast() }
                if !text.isEmpty { fields.append(("locality", .string(text))) }
            }
            endpoints.append(.object(fields))
        }
        let resolution: String
        if !service.selected.isEmpty {
            resolution = allIP ? "STATIC" : "DNS"
        } else if hosts.isEmpty || hosts.contains(where: { $0.hasPrefix("*.") }) {
            // Istio refuses DNS resolution for wildcards; addresses go to the original destination.
            resolution = "NONE"
        } else {
            resolution = "DNS"
        }
        spec.append(("resolution", .string(resolution)))
        if !service.selected.isEmpty { spec.append(("endpoints", .array(endpoints))) }
        if let sans = source.spec.subjectAltNames, !sans.isEmpty {
            spec.append(("subjectAltNames", .array(sans.map { .string($0) })))
        }
        return .object([
            ("apiVersion", .string("networking.istio.io/v1")),
            ("kind", .string("ServiceEntry")),
            ("metadata", metadata(source, name: source.name)),
            ("spec", .object(spec)),
        ])
    }

    /// One DestinationRule per host whose ports originate TLS (`clientsideTls` other than DISABLE).
    private func destinationRules(_ service: ServicePlan) -> [ConfigValue] {
        let source = service.service
        let tlsPorts = (source.spec.ports ?? []).filter { port in
            service.keptPorts.contains(port.number) && port.clientsideTls?.mode != nil && port.clientsideTls?.mode != .disable
        }
        guard !tlsPorts.isEmpty else { return [] }
        let hosts = (source.spec.hosts ?? []).filter { service.keptDestinations.contains(.host($0)) }
        return hosts.enumerated().map { index, host in
            let settings: [ConfigValue] = tlsPorts.map { port in
                var tls: [(String, ConfigValue)] = []
                if let settings = port.clientsideTls {
                    if let mode = settings.mode { tls.append(("mode", .string(mode.rawValue))) }
                    if let sni = settings.sni { tls.append(("sni", .string(sni))) }
                    if let value = settings.caCertificates { tls.append(("caCertificates", .string(value))) }
                    if let value = settings.clientCertificate { tls.append(("clientCertificate", .string(value))) }
                    if let value = settings.privateKey { tls.append(("privateKey", .string(value))) }
                    if let value = settings.credentialName { tls.append(("credentialName", .string(value))) }
                    if let value = settings.insecureSkipVerify { tls.append(("insecureSkipVerify", .bool(value))) }
                }
                if let sans = source.spec.subjectAltNames, !sans.isEmpty {
                    tls.append(("subjectAltNames", .array(sans.map { .string($0) })))
                }
                return .object([("port", .object([("number", .int(port.number))])), ("tls", .object(tls))])
            }
            let name = hosts.count == 1 ? source.name : "\(source.name)-\(index)"
            return .object([
                ("apiVersion", .string("networking.istio.io/v1")),
                ("kind", .string("DestinationRule")),
                ("metadata", metadata(source, name: name)),
                (
                    "spec",
                    .object([
                        ("host", .string(host)),
                        ("trafficPolicy", .object([("portLevelSettings", .array(settings))])),
                    ])
                ),
            ])
        }
    }
}
