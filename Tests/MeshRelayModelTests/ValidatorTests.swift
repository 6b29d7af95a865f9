import Testing

@testable import MeshRelayModel

@Suite struct ValidatorTests {
    private static func service(
        name: String = "test", namespace: String = "global", hosts: [String]? = ["example.com"],
        addresses: [String]? = nil, ports: [ExternalServicePort]? = [ExternalServicePort(name: "http", number: 80, protocol: .http)],
        selector: [String: String]? = nil, labels: [String: String]? = nil
    ) -> Resource {
        Resource(
            metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
            spec: .externalService(
                ExternalServiceSpec(hosts: hosts, addresses: addresses, ports: ports, selector: selector)
            )
        )
    }

    private static func endpoint(address: String = "10.0.0.1", ports: [EndpointPort]? = [EndpointPort(number: 80)]) -> Resource {
        Resource(
            metadata: ObjectMeta(name: "ep", namespace: "global"),
            spec: .externalEndpoint(ExternalEndpointSpec(address: address, ports: ports))
        )
    }

    /// `field: rule` of every violation.
    private static func found(_ resource: Resource) -> [String] {
        Validator.validate(resource).map { "\($0.field): \($0.rule)" }
    }

    // MARK: Names

    @Test(arguments: ["google", "a", "cluster-1", "0abc", String(repeating: "a", count: 63)])
    func validNames(name: String) {
        #expect(Self.found(Self.service(name: name, namespace: name)) == [])
    }

    @Test(arguments: ["Google", "-x", "x-", "a_b", "a.b", "", String(repeating: "a", count: 64), "café"])
    func invalidNames(name: String) {
        #expect(
            Self.found(Self.service(name: name, namespace: name)) == [
                "metadata.name: dns1123Label", "metadata.namespace: dns1123Label",
            ]
        )
    }

    @Test func aNameViolationSaysWhatIsAllowed() {
        let violation = Validator.validate(Self.service(name: "Google")).first
        #expect(
            violation?.description
                == "ExternalService global/Google: metadata.name: \"Google\" is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
        )
    }

    // MARK: Labels and selectors

    @Test(arguments: [
        ["app": "web"], ["app.kubernetes.io/name": "web"], ["tier": ""], ["a": "A-b_c.1"],
        [:],
    ])
    func validLabels(labels: [String: String]) {
        #expect(Self.found(Self.service(selector: labels, labels: labels)) == [])
    }

    @Test(arguments: [
        ["-app": "web"], ["app": "-web"], ["app": "has space"], ["Example.com/app": "x"], ["a/b/c": "x"],
        ["/app": "x"], [String(repeating: "k", count: 64): "v"], ["k": String(repeating: "v", count: 64)],
    ])
    func invalidLabels(labels: [String: String]) {
        let key = labels.keys.first ?? ""
        #expect(
            Self.found(Self.service(selector: labels, labels: labels)) == [
                "metadata.labels[\(key)]: labelFormat", "spec.selector[\(key)]: labelFormat",
            ]
        )
    }

    @Test func annotationKeysAreChecked() {
        var resource = Self.service()
        resource.metadata.annotations = ["ok.example.com/note": "any value at all, even with spaces", "bad key": "x"]
        #expect(Self.found(resource) == ["metadata.annotations[bad key]: annotationFormat"])
    }

    // MARK: Hosts and addresses

    @Test func bothHostsAndAddressesIsRefusedWithAdvice() {
        let violations = Validator.validate(Self.service(name: "both", hosts: ["example.com"], addresses: ["10.0.0.1"]))
        #expect(
            violations.map(\.description) == [
                "ExternalService global/both: spec: hosts and addresses are both set; set exactly one (use two ExternalServices to cover names and IPs)"
            ]
        )
        #expect(violations.first?.rule == "hostsXorAddresses")
    }

    @Test(arguments: [(nil, nil), ([], []), ([], nil)] as [([String]?, [String]?)])
    func neitherHostsNorAddressesIsRefused(hosts: [String]?, addresses: [String]?) {
        #expect(Self.found(Self.service(hosts: hosts, addresses: addresses)) == ["spec: hostsXorAddresses"])
    }

    @Test(arguments: [
        "www.google.com", "*.google.com", "localhost", "a-b.example", "xn--bcher-kva.example", "*.com",
        String(repeating: "a", count: 63) + ".com",
    ])
    func validHosts(host: String) {
        #expect(Self.found(Self.service(hosts: [host])) == [])
    }

    @Test(arguments: [
        ("*", "\"*\" alone is not allowed; use a wildcard prefix such as \"*.example.com\""),
        ("www.*.com", "\"www.*.com\" is not valid: a wildcard is only allowed as the leading \"*.\" (for example \"*.google.com\")"),
        ("foo.*.com", "\"foo.*.com\" is not valid: a wildcard is only allowed as the leading \"*.\" (for example \"*.google.com\")"),
        ("*google.com", "\"*google.com\" is not valid: a wildcard is only allowed as the leading \"*.\" (for example \"*.google.com\")"),
        ("*.*.google.com", "\"*.*.google.com\" is not valid: a wildcard is only allowed as a single leading \"*.\""),
        ("*.", "\"*.\" is not valid: a wildcard is only allowed as a single leading \"*.\""),
        ("WWW.Google.com", "\"WWW.Google.com\" has uppercase letters; host names must be lowercase (\"www.google.com\")"),
        ("www.google.com.", "\"www.google.com.\" ends with a dot; remove the trailing dot"),
        ("10.0.0.1", "\"10.0.0.1\" is an IP address; put IP addresses and CIDR ranges in spec.addresses, in a separate ExternalService"),
        ("::1", "\"::1\" is an IP address; put IP addresses and CIDR ranges in spec.addresses, in a separate ExternalService"),
        ("10.0.0.0/8", "\"10.0.0.0/8\" is an IP address; put IP addresses and CIDR ranges in spec.addresses, in a separate ExternalService"),
        ("", "a host must not be empty"),
        ("300.1.1.1", "\"300.1.1.1\" is neither a valid IP address nor a DNS name (a name cannot end with an all-numeric label)"),
        ("010.0.0.1", "\"010.0.0.1\" is neither a valid IP address nor a DNS name (a name cannot end with an all-numeric label)"),
        ("-bad.example.com", "\"-bad.example.com\" is not a valid DNS name: lowercase letters, digits, '-' and '.', labels of at most 63 characters starting and ending with a letter or digit, at most 253 characters"),
        ("a..b", "\"a..b\" is not a valid DNS name: lowercase letters, digits, '-' and '.', labels of at most 63 characters starting and ending with a letter or digit, at most 253 characters"),
        ("http://example.com", "\"http://example.com\" is not a valid DNS name: lowercase letters, digits, '-' and '.', labels of at most 63 characters starting and ending with a letter or digit, at most 253 characters"),
    ])
    func invalidHosts(host: String, message: String) {
        #expect(
            Validator.validate(Self.service(hosts: [host]))
                == [Violation(resource: "ExternalService global/test", field: "spec.hosts[0]", rule: .hostFormat, message: message)]
        )
    }

    @Test func overlongHostsAreRefused() {
        let longLabel = String(repeating: "a", count: 64) + ".com"
        let longName = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".") + ".com"
        #expect(longName.count > 253)
        #expect(Self.found(Self.service(hosts: [longLabel, longName])) == ["spec.hosts[0]: hostFormat", "spec.hosts[1]: hostFormat"])
    }

    @Test(arguments: [
        "10.0.0.1", "0.0.0.0", "255.255.255.255", "10.0.0.0/8", "0.0.0.0/0", "192.168.1.1/32", "::1", "::", "2001:db8::/32",
        "2001:db8:0:0:0:0:0:1", "fe80::1:2", "::ffff:10.0.0.1", "::/0", "2001:DB8::1/128",
    ])
    func validAddresses(address: String) {
        #expect(Self.found(Self.service(hosts: nil, addresses: [address])) == [])
    }

    @Test(arguments: [
        "300.1.1.1", "010.0.0.1", "10.0.0", "10.0.0.1.2", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1",
        "::1/129", "1::2::3", ":::", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "12345::1", "fe80::1%eth0", "[::1]",
        "g::1", "example.com", "", " 10.0.0.1", "10.0.0.1/8/8", "::ffff:10.0.0.256", "1.2.3.4::",
    ])
    func invalidAddresses(address: String) {
        #expect(Self.found(Self.service(hosts: nil, addresses: [address])) == ["spec.addresses[0]: addressFormat"])
    }

    @Test func duplicateHostsAndAddressesAreRefused() {
        #expect(
            Self.found(Self.service(hosts: ["a.com", "b.com", "a.com"])) == ["spec.hosts[2]: duplicate"]
        )
        let violations = Validator.validate(Self.service(hosts: nil, addresses: ["::1", "10.0.0.0/8", "0:0::1"]))
        #expect(violations.map(\.field) == ["spec.addresses[2]"])
        #expect(violations.first?.message == "\"0:0::1\" duplicates spec.addresses[0]")
    }

    // MARK: Ports

    @Test func portsAreRequired() {
        #expect(Self.found(Self.service(ports: nil)) == ["spec.ports: required"])
        #expect(Self.found(Self.service(ports: [])) == ["spec.ports: required"])
    }

    @Test(arguments: [0, -1, 65536, 100_000])
    func portNumbersOutOfRange(number: Int) {
        let violations = Validator.validate(Self.service(ports: [ExternalServicePort(number: number, protocol: .tcp)]))
        #expect(violations.map(\.field) == ["spec.ports[0].number"])
        #expect(violations.first?.rule == "portRange")
        #expect(violations.first?.message == "port \(number) is out of range; use 1-65535")
    }

    @Test(arguments: [1, 80, 65535])
    func portNumbersInRange(number: Int) {
        #expect(Self.found(Self.service(ports: [ExternalServicePort(number: number, protocol: .tcp)])) == [])
    }

    @Test func portNumbersAndNamesAreUnique() {
        let ports = [
            ExternalServicePort(name: "http", number: 80, protocol: .http),
            ExternalServicePort(name: "https", number: 443, protocol: .https),
            ExternalServicePort(name: "alt", number: 80, protocol: .http),
            ExternalServicePort(name: "http", number: 8080, protocol: .http),
        ]
        let violations = Validator.validate(Self.service(ports: ports))
        #expect(violations.map(\.field) == ["spec.ports[2].number", "spec.ports[3].name"])
        #expect(violations.map(\.rule) == ["portUnique", "portUnique"])
        #expect(violations.first?.message == "port 80 is already used by spec.ports[0]; port numbers must be unique")
    }

    @Test func portNamesAreLabels() {
        let ports = [ExternalServicePort(name: "HTTP_web", number: 80, protocol: .http)]
        #expect(Self.found(Self.service(ports: ports)) == ["spec.ports[0].name: dns1123Label"])
    }

    @Test(arguments: [
        (TargetPort(number: 8080), [String]()),
        (TargetPort(name: "https"), []),
        (TargetPort(), ["spec.ports[0].targetPort: targetPort"]),
        (TargetPort(number: 8080, name: "https"), ["spec.ports[0].targetPort: targetPort"]),
        (TargetPort(number: 0), ["spec.ports[0].targetPort.number: portRange"]),
        (TargetPort(number: 65536), ["spec.ports[0].targetPort.number: portRange"]),
        (TargetPort(name: "Bad"), ["spec.ports[0].targetPort.name: dns1123Label"]),
    ])
    func targetPorts(target: TargetPort, expected: [String]) {
        let ports = [ExternalServicePort(number: 443, protocol: .tls, targetPort: target)]
        #expect(Self.found(Self.service(ports: ports)) == expected)
    }

    // MARK: ExternalEndpoint

    @Test(arguments: [
        "10.0.0.1", "2001:db8::1", "db.example.com", "localhost", "unix:///var/run/db.sock", "unix:///x", "300.0.0.1x",
    ])
    func validEndpointAddresses(address: String) {
        #expect(Self.found(Self.endpoint(address: address)) == [])
    }

    @Test(arguments: [
        "*.example.com", "10.0.0.0/8", "unix://relative/path", "unix:///", "unix://", "DB.example.com", "", "300.0.0.1", "010.0.0.1",
        "http://db.example.com",
    ])
    func invalidEndpointAddresses(address: String) {
        #expect(Self.found(Self.endpoint(address: address)) == ["spec.address: endpointAddress"])
    }

    @Test func endpointPortsAreRequiredAndInRange() {
        #expect(Self.found(Self.endpoint(ports: nil)) == ["spec.ports: required"])
        #expect(Self.found(Self.endpoint(ports: [EndpointPort(number: 0)])) == ["spec.ports[0].number: portRange"])
        #expect(Self.found(Self.endpoint(ports: [EndpointPort(number: 5432)])) == [])
    }

    @Test func severalEndpointPortsNeedUniqueNames() {
        let unnamed = [EndpointPort(name: "http", number: 80), EndpointPort(number: 443)]
        #expect(Self.found(Self.endpoint(ports: unnamed)) == ["spec.ports[1].name: portName"])
        let repeated = [EndpointPort(name: "http", number: 80), EndpointPort(name: "http", number: 8080)]
        #expect(Self.found(Self.endpoint(ports: repeated)) == ["spec.ports[1].name: portName"])
        let good = [EndpointPort(name: "http", number: 80), EndpointPort(name: "https", number: 443)]
        #expect(Self.found(Self.endpoint(ports: good)) == [])
        #expect(Self.found(Self.endpoint(ports: [EndpointPort(name: "Bad", number: 80)])) == ["spec.ports[0].name: dns1123Label"])
    }

    // MARK: Workspace and KubernetesCluster

    @Test func workspaceNamesAreLabelsOrWildcards() {
        let good = WorkspaceSpec(workloadClusters: [
            WorkspaceCluster(name: "*", namespaces: [WorkspaceNamespace(name: "*")]),
            WorkspaceCluster(name: "cluster-1", namespaces: [WorkspaceNamespace(name: "bookinfo")]),
        ])
        let bad = WorkspaceSpec(workloadClusters: [
            WorkspaceCluster(name: "Cluster_1", namespaces: [WorkspaceNamespace(name: "ok"), WorkspaceNamespace(name: "*ns")]),
            WorkspaceCluster(name: "**"),
        ])
        let meta = ObjectMeta(name: "ws", namespace: "gloo-mesh")
        #expect(Self.found(Resource(metadata: meta, spec: .workspace(good))) == [])
        #expect(
            Self.found(Resource(metadata: meta, spec: .workspace(bad))) == [
                "spec.workloadClusters[0].name: dns1123Label",
                "spec.workloadClusters[0].namespaces[1].name: dns1123Label",
                "spec.workloadClusters[1].name: dns1123Label",
            ]
        )
    }

    @Test(arguments: [
        (nil, [String]()), ("cluster.local", []), ("corp", []),
        ("Cluster.Local", ["spec.clusterDomain: dns1123Subdomain"]), ("cluster.local.", ["spec.clusterDomain: dns1123Subdomain"]),
        ("", ["spec.clusterDomain: dns1123Subdomain"]),
    ] as [(String?, [String])])
    func clusterDomains(domain: String?, expected: [String]) {
        let resource = Resource(
            metadata: ObjectMeta(name: "cluster-1", namespace: "gloo-mesh"),
            spec: .kubernetesCluster(KubernetesClusterSpec(clusterDomain: domain))
        )
        #expect(Self.found(resource) == expected)
    }

    @Test func clusterNamesAreLabels() {
        let resource = Resource(
            metadata: ObjectMeta(name: "Cluster.1", namespace: "gloo-mesh"), spec: .kubernetesCluster(KubernetesClusterSpec())
        )
        #expect(Self.found(resource) == ["metadata.name: dns1123Label"])
    }
}
