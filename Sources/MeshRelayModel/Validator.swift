/// The semantic rules of a decoded ``Resource``: name formats, hosts, addresses, ports. Pure; the
/// resource's own fields only (rules across resources, such as addresses unique within a
/// workspace, need the store).
public enum Validator {
    /// Every rule the resource breaks, in field order. Empty means valid.
    /// - Parameter resource: A decoded resource.
    /// - Returns: Violations naming the resource as `ExternalService global/google`.
    public static func validate(_ resource: Resource) -> [Violation] {
        var check = Checker(subject: resource.key.description)
        check.metadata(resource.metadata)
        switch resource.spec {
        case .externalService(let spec): check.externalService(spec)
        case .externalEndpoint(let spec): check.externalEndpoint(spec)
        case .workspace(let spec): check.workspace(spec)
        case .kubernetesCluster(let spec): check.kubernetesCluster(spec)
        }
        return check.violations
    }
}

/// Accumulates violations for one resource.
private struct Checker {
    let subject: String
    var violations: [Violation] = []

    init(subject: String) {
        self.subject = subject
    }

    mutating func report(_ field: String, _ rule: ViolationRule, _ message: String) {
        violations.append(Violation(resource: subject, field: field, rule: rule, message: message))
    }

    // MARK: Shared rules

    mutating func dns1123Label(_ value: String, at field: String, allowWildcard: Bool = false) {
        if allowWildcard, value == "*" { return }
        guard !NameFormat.isDNS1123Label(value) else { return }
        let wildcard = allowWildcard ? " (or \"*\")" : ""
        report(
            field, .dns1123Label,
            "\(quoted(value)) is not a DNS-1123 label\(wildcard): use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    }

    mutating func labels(_ labels: [String: String]?, at field: String, what: String) {
        for key in (labels ?? [:]).keys.sorted() {
            let path = DecodingContext.path(field, entry: key)
            if !NameFormat.isLabelKey(key) {
                report(
                    path, .labelFormat,
                    "\(quoted(key)) is not a valid \(what) key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                )
            }
            if let value = labels?[key], !NameFormat.isLabelValue(value) {
                report(
                    path, .labelFormat,
                    "\(quoted(value)) is not a valid \(what) value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                )
            }
        }
    }

    mutating func portNumber(_ number: Int, at field: String) {
        if !(1...65535).contains(number) {
            report(field, .portRange, "port \(number) is out of range; use 1-65535")
        }
    }

    // MARK: Metadata

    mutating func metadata(_ metadata: ObjectMeta) {
        dns1123Label(metadata.name, at: "metadata.name")
        dns1123Label(metadata.namespace, at: "metadata.namespace")
        labels(metadata.labels, at: "metadata.labels", what: "label")
        for key in (metadata.annotations ?? [:]).keys.sorted() where !NameFormat.isLabelKey(key) {
            report(
                DecodingContext.path("metadata.annotations", entry: key), .annotationFormat,
                "\(quoted(key)) is not a valid annotation key: an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
        }
    }

    // MARK: ExternalService

    mutating func externalService(_ spec: ExternalServiceSpec) {
        let hosts = spec.hosts ?? []
        let addresses = spec.addresses ?? []
        switch (hosts.isEmpty, addresses.isEmpty) {
        case (false, false):
            report(
                "spec", .hostsXorAddresses,
                "hosts and addresses are both set; set exactly one (use two ExternalServices to cover names and IPs)"
            )
        case (true, true):
            report(
                "spec", .hostsXorAddresses,
                "neither hosts nor addresses is set; set hosts (DNS names) or addresses (IPs or CIDR ranges)"
            )
        default:
            break
        }
        for (index, host) in hosts.enumerated() {
            hostFormat(host, at: "spec.hosts[\(index)]")
        }
        duplicates(hosts, at: "spec.hosts", key: { $0 })
        for (index, address) in addresses.enumerated() where CIDRRange(address) == nil {
            report(
                "spec.addresses[\(index)]", .addressFormat,
                "\(quoted(address)) is not an IPv4 or IPv6 address or CIDR range (such as 10.0.0.0/8 or 2001:db8::/32); write IPv4 without leading zeros and keep the prefix within 0-32 (IPv4) or 0-128 (IPv6)"
            )
        }
        // Compare parsed addresses, so that `::1` and `0::1` count as the same.
        duplicates(addresses, at: "spec.addresses", key: { CIDRRange($0)?.description ?? $0 })

        guard let ports = spec.ports, !ports.isEmpty else {
            report("spec.ports", .required, "at least one port is required")
            labels(spec.selector, at: "spec.selector", what: "selector")
            return
        }
        var numbers: [Int: Int] = [:]
        var names: [String: Int] = [:]
        for (index, port) in ports.enumerated() {
            let path = "spec.ports[\(index)]"
            portNumber(port.number, at: "\(path).number")
            if let first = numbers[port.number] {
                report(
                    "\(path).number", .portUnique,
                    "port \(port.number) is already used by spec.ports[\(first)]; port numbers must be unique"
                )
            } else {
                numbers[port.number] = index
            }
            if let name = port.name {
                dns1123Label(name, at: "\(path).name")
                if let first = names[name] {
                    report(
                        "\(path).name", .portUnique,
                        "port name \(quoted(name)) is already used by spec.ports[\(first)]; port names must be unique"
                    )
                } else {
                    names[name] = index
                }
            }
            if let target = port.targetPort {
                targetPort(target, at: "\(path).targetPort")
            }
        }
        labels(spec.selector, at: "spec.selector", what: "selector")
    }

    mutating func hostFormat(_ host: String, at field: String) {
        guard !NameFormat.isServiceHost(host) else { return }
        let message: String
        if host.isEmpty {
            message = "a host must not be empty"
        } else if host == "*" {
            message = "\"*\" alone is not allowed; use a wildcard prefix such as \"*.example.com\""
        } else if host.hasPrefix("*."), host.dropFirst(2).contains("*") || host.dropFirst(2).isEmpty {
            message = "\(quoted(host)) is not valid: a wildcard is only allowed as a single leading \"*.\""
        } else if host.contains("*") {
            message = "\(quoted(host)) is not valid: a wildcard is only allowed as the leading \"*.\" (for example \"*.google.com\")"
        } else if IPAddress(host) != nil || CIDRRange(host) != nil {
            message = "\(quoted(host)) is an IP address; put IP addresses and CIDR ranges in spec.addresses, in a separate ExternalService"
        } else if NameFormat.isDNS1123Subdomain(host) {
            message = "\(quoted(host)) is neither a valid IP address nor a DNS name (a name cannot end with an all-numeric label)"
        } else if host.hasSuffix(".") {
            message = "\(quoted(host)) ends with a dot; remove the trailing dot"
        } else if host != host.lowercased() {
            message = "\(quoted(host)) has uppercase letters; host names must be lowercase (\(quoted(host.lowercased())))"
        } else {
            message = "\(quoted(host)) is not a valid DNS name: lowercase letters, digits, '-' and '.', labels of at most 63 characters starting and ending with a letter or digit, at most 253 characters"
        }
        report(field, .hostFormat, message)
    }

    mutating func duplicates(_ values: [String], at field: String, key: (String) -> String) {
        var seen: [String: Int] = [:]
        for (index, value) in values.enumerated() {
            let normalized = key(value)
            if let first = seen[normalized] {
                report("\(field)[\(index)]", .duplicate, "\(quoted(value)) duplicates \(field)[\(first)]")
            } else {
                seen[normalized] = index
            }
        }
    }

    mutating func targetPort(_ target: TargetPort, at field: String) {
        switch (target.number, target.name) {
        case (let number?, nil):
            portNumber(number, at: "\(field).number")
        case (nil, let name?):
            dns1123Label(name, at: "\(field).name")
        case (.some, .some):
            report(field, .targetPort, "set either number or name, not both")
        case (nil, nil):
            report(field, .targetPort, "set number (a port of the endpoints) or name (an ExternalEndpoint port name)")
        }
    }

    // MARK: ExternalEndpoint

    mutating func externalEndpoint(_ spec: ExternalEndpointSpec) {
        endpointAddress(spec.address)
        guard let ports = spec.ports, !ports.isEmpty else {
            report("spec.ports", .required, "at least one port is required")
            return
        }
        var names: [String: Int] = [:]
        for (index, port) in ports.enumerated() {
            let path = "spec.ports[\(index)]"
            portNumber(port.number, at: "\(path).number")
            guard let name = port.name else {
                if ports.count > 1 {
                    report(
                        "\(path).name", .portName,
                        "required when an endpoint has several ports; ExternalServices match endpoint ports by name"
                    )
                }
                continue
            }
            dns1123Label(name, at: "\(path).name")
            if let first = names[name] {
                report(
                    "\(path).name", .portName,
                    "port name \(quoted(name)) is already used by spec.ports[\(first)]; port names must be unique"
                )
            } else {
                names[name] = index
            }
        }
    }

    mutating func endpointAddress(_ address: String) {
        if IPAddress(address) != nil { return }
        if address.hasPrefix("unix://") {
            let path = address.dropFirst("unix://".count)
            if path.hasPrefix("/"), path.count > 1 { return }
            report(
                "spec.address", .endpointAddress,
                "\(quoted(address)) is not a valid unix socket address; use an absolute path such as unix:///var/run/proxy.sock"
            )
            return
        }
        if NameFormat.isDNSName(address) { return }
        let message: String
        if NameFormat.isDNS1123Subdomain(address) {
            message = "\(quoted(address)) is neither a valid IP address nor a DNS name (a name cannot end with an all-numeric label)"
        } else if address.contains("*") {
            message = "\(quoted(address)) has a wildcard; an endpoint address must be one IP address, DNS name or unix:///path"
        } else if CIDRRange(address) != nil {
            message = "\(quoted(address)) is a CIDR range; an endpoint address must be one IP address, DNS name or unix:///path"
        } else {
            message = "\(quoted(address)) is not an IP address, a lowercase DNS name or unix:///path"
        }
        report("spec.address", .endpointAddress, message)
    }

    // MARK: Workspace and KubernetesCluster

    mutating func workspace(_ spec: WorkspaceSpec) {
        for (index, cluster) in (spec.workloadClusters ?? []).enumerated() {
            let path = "spec.workloadClusters[\(index)]"
            dns1123Label(cluster.name, at: "\(path).name", allowWildcard: true)
            for (namespaceIndex, namespace) in (cluster.namespaces ?? []).enumerated() {
                dns1123Label(namespace.name, at: "\(path).namespaces[\(namespaceIndex)].name", allowWildcard: true)
            }
        }
    }

    mutating func kubernetesCluster(_ spec: KubernetesClusterSpec) {
        if let domain = spec.clusterDomain, !NameFormat.isDNS1123Subdomain(domain) {
            report(
                "spec.clusterDomain", .dns1123Subdomain,
                "\(quoted(domain)) is not a DNS subdomain (such as cluster.local): lowercase letters, digits, '-' and '.', at most 253 characters"
            )
        }
    }

    private func quoted(_ value: String) -> String {
        "\"\(value)\""
    }
}
