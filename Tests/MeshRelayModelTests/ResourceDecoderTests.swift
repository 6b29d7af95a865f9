import Foundation
import Testing

@testable import MeshRelayModel

@Suite struct ResourceDecoderTests {
    private func violations(_ text: String) throws -> [Violation] {
        try Fixtures.decode(text).violations
    }

    // MARK: Kinds

    @Test func anUnknownKindListsTheKnownKinds() throws {
        let text = Fixtures.google.replacingFirst("kind: ExternalService", with: "kind: ServiceEntry")
        #expect(
            try violations(text) == [
                Violation(
                    resource: "ServiceEntry global/google", field: "kind", rule: .unknownKind,
                    message:
                        "unknown kind \"ServiceEntry\" in networking.gloo.solo.io/v2; known kinds: \(ResourceKind.knownKindsDescription)"
                )
            ]
        )
    }

    @Test func aKnownKindUnderTheWrongVersionSaysWhichVersionServesIt() throws {
        let text = Fixtures.google.replacingFirst("networking.gloo.solo.io/v2", with: "networking.gloo.solo.io/v1")
        let found = try violations(text)
        #expect(found.map(\.rule) == ["unknownKind"])
        #expect(found.first?.field == "apiVersion")
        #expect(
            found.first?.message
                == "ExternalService is served as networking.gloo.solo.io/v2, not networking.gloo.solo.io/v1; known kinds: \(ResourceKind.knownKindsDescription)"
        )
    }

    @Test func aKindUnderAnotherKindsGroupIsUnknown() throws {
        let text = Fixtures.google.replacingFirst("networking.gloo.solo.io/v2", with: "admin.gloo.solo.io/v2")
        #expect(try violations(text).map(\.field) == ["apiVersion"])
    }

    @Test func missingApiVersionAndKindAreRequired() throws {
        let text = "metadata:\n  name: a\n  namespace: b\nspec: {}\n"
        #expect(
            try violations(text) == [
                Violation(resource: "document 1 (line 1)", field: "apiVersion", rule: .required, message: "required"),
                Violation(resource: "document 1 (line 1)", field: "kind", rule: .required, message: "required"),
            ]
        )
    }

    // MARK: Unknown and ignored fields

    @Test func anUnknownSpecFieldListsTheKnownFields() throws {
        let text = Fixtures.externalService(spec: "host: www.google.com\nhosts: [www.google.com]\nports: [{number: 80, protocol: HTTP}]")
        #expect(
            try violations(text) == [
                Violation(
                    resource: "ExternalService global/test", field: "spec.host", rule: .unknownField,
                    message:
                        "unknown field; known fields: hosts, addresses, ports, subjectAltNames, selector (did you mean hosts?)"
                )
            ]
        )
    }

    @Test func unknownFieldsAreFoundAtEveryLevel() throws {
        let text = """
            apiVersion: networking.gloo.solo.io/v2
            kind: ExternalService
            extra: 1
            metadata:
              name: test
              namespace: global
              generateName: test-
            spec:
              hosts: [example.com]
              ports:
                - number: 443
                  protocol: HTTPS
                  targetPort: {number: 8443, port: 1}
                  clientsideTls: {mode: SIMPLE, verify: true}
                  weight: 3
            """
        #expect(
            try violations(text).map(\.field) == [
                "extra", "metadata.generateName", "spec.ports[0].weight", "spec.ports[0].targetPort.port",
                "spec.ports[0].clientsideTls.verify",
            ]
        )
    }

    @Test func statusAndServerOwnedMetadataAreIgnored() throws {
        let text = Fixtures.google.replacingFirst(
            "  namespace: global",
            with: "  namespace: global\n  uid: abc\n  generation: 4\n  resourceVersion: \"9\"\n  finalizers: [x]"
        ) + "\nstatus:\n  common: {state: {approval: ACCEPTED}}\n"
        let outcome = try Fixtures.decode(text)
        #expect(outcome.violations == [])
        #expect(outcome.resource?.metadata == ObjectMeta(name: "google", namespace: "global"))
    }

    // MARK: Types and required fields

    @Test func aWrongTypeNamesTheFieldAndBothTypes() throws {
        let text = Fixtures.externalService(spec: "hosts: [example.com]\nports:\n  - number: \"80\"\n    protocol: HTTP")
        #expect(
            try violations(text) == [
                Violation(
                    resource: "ExternalService global/test", field: "spec.ports[0].number", rule: .wrongType,
                    message: "expected an integer, got a string"
                )
            ]
        )
    }

    @Test(arguments: [
        ("hosts: www.google.com", "spec.hosts", "expected a list, got a string"),
        ("hosts: [80]", "spec.hosts[0]", "expected a string, got an integer; quote the value"),
        ("ports: {number: 80}", "spec.ports", "expected a list, got a mapping"),
        ("ports: [80]", "spec.ports[0]", "expected a mapping, got an integer"),
        ("ports: [{number: 80.5, protocol: HTTP}]", "spec.ports[0].number", "expected an integer, got a number"),
        ("ports: [{number: 80, protocol: 1}]", "spec.ports[0].protocol", "expected a string, got an integer; quote the value"),
        ("selector: [a]", "spec.selector", "expected a mapping of strings, got a list"),
        ("selector: {version: 2}", "spec.selector[version]", "expected a string, got an integer; quote the value"),
        (
            "ports: [{number: 443, protocol: TLS, targetPort: 8443}]", "spec.ports[0].targetPort",
            "expected a mapping with number or name (for example {number: 8443}), got an integer"
        ),
        (
            "ports: [{number: 443, protocol: TLS, clientsideTls: {insecureSkipVerify: \"yes\"}}]",
            "spec.ports[0].clientsideTls.insecureSkipVerify", "expected a boolean (true or false), got a string"
        ),
    ])
    func wrongTypes(spec: String, field: String, message: String) throws {
        var lines = ["hosts: [example.com]", "ports: [{number: 80, protocol: HTTP}]"]
        lines.removeAll { $0.prefix(6) == spec.prefix(6) }
        let text = Fixtures.externalService(spec: ([spec] + lines).joined(separator: "\n"))
        #expect(
            try violations(text)
                == [Violation(resource: "ExternalService global/test", field: field, rule: .wrongType, message: message)]
        )
    }

    @Test func aMissingNamespaceIsRequired() throws {
        let text = Fixtures.google.replacingFirst("  namespace: global\n", with: "")
        #expect(
            try violations(text) == [
                Violation(
                    resource: "document 1 (line 1)", field: "metadata.namespace", rule: .required,
                    message: "required; meshrelay has no default namespace"
                )
            ]
        )
    }

    @Test func missingNameMetadataAndSpec() throws {
        #expect(
            try violations("apiVersion: networking.gloo.solo.io/v2\nkind: ExternalService\n").map(\.field)
                == ["metadata", "spec"]
        )
        let noName = Fixtures.google.replacingFirst("  name: google\n", with: "")
        #expect(try violations(noName).map(\.field) == ["metadata.name"])
    }

    @Test func requiredPortFields() throws {
        let text = Fixtures.externalService(spec: "hosts: [example.com]\nports: [{name: http}]")
        #expect(try violations(text).map(\.field) == ["spec.ports[0].number", "spec.ports[0].protocol"])
        #expect(try violations(text).map(\.rule) == ["required", "required"])
    }

    @Test func aDocumentThatIsNotAMappingIsAViolation() throws {
        let documents = try ManifestParser.parse("a: 1\n---\n- just\n- a list\n")
        let outcome = ResourceDecoder.decode(try #require(documents.last))
        #expect(
            outcome.violations == [
                Violation(
                    resource: "document 2 (line 3)", field: "", rule: .wrongType,
                    message: "a manifest document must be a mapping with apiVersion, kind, metadata and spec; got a list"
                )
            ]
        )
    }

    @Test func nullReadsAsAbsent() throws {
        let text = Fixtures.google.replacingFirst("  selector: {}", with: "  selector:\n  subjectAltNames: null")
        let outcome = try Fixtures.decode(text)
        guard case .externalService(let spec)? = outcome.resource?.spec else {
            Issue.record("\(outcome)")
            return
        }
        #expect(spec.selector == nil)
        #expect(spec.subjectAltNames == nil)
    }

    // MARK: Enumerations

    @Test(arguments: [
        ("UDP", "unknown protocol \"UDP\"; allowed: HTTP, HTTPS, HTTP2, GRPC, TCP, TLS, MONGO"),
        ("http", "unknown protocol \"http\"; allowed: HTTP, HTTPS, HTTP2, GRPC, TCP, TLS, MONGO (did you mean HTTP?)"),
    ])
    func anUnknownProtocolListsTheAllowedOnes(name: String, message: String) throws {
        let text = Fixtures.externalService(spec: "hosts: [example.com]\nports: [{number: 53, protocol: \(name)}]")
        #expect(
            try violations(text) == [
                Violation(
                    resource: "ExternalService global/test", field: "spec.ports[0].protocol", rule: .protocol,
                    message: message
                )
            ]
        )
    }

    @Test(arguments: PortProtocol.allCases)
    func everyProtocolDecodes(portProtocol: PortProtocol) throws {
        let text = Fixtures.externalService(
            spec: "hosts: [example.com]\nports: [{number: 1234, protocol: \(portProtocol.rawValue)}]"
        )
        guard case .externalService(let spec)? = try Fixtures.decode(text).resource?.spec else {
            Issue.record("did not decode")
            return
        }
        #expect(spec.ports?.first?.protocol == portProtocol)
    }

    @Test func anUnknownTLSModeListsTheAllowedOnes() throws {
        let text = Fixtures.externalService(
            spec: "hosts: [example.com]\nports: [{number: 443, protocol: HTTPS, clientsideTls: {mode: STRICT}}]"
        )
        #expect(
            try violations(text) == [
                Violation(
                    resource: "ExternalService global/test", field: "spec.ports[0].clientsideTls.mode", rule: .tlsMode,
                    message: "unknown TLS mode \"STRICT\"; allowed: SIMPLE, DISABLE, MUTUAL, ISTIO_MUTUAL"
                )
            ]
        )
    }

    // MARK: Full port shape

    @Test func everyPortFieldDecodes() throws {
        let text = Fixtures.externalService(
            spec: """
                hosts: [api.example.com]
                ports:
                  - name: https
                    number: 443
                    protocol: HTTPS
                    targetPort: {name: tls}
                    clientsideTls:
                      mode: MUTUAL
                      sni: api.example.com
                      caCertificates: /etc/certs/ca.pem
                      clientCertificate: /etc/certs/cert.pem
                      privateKey: /etc/certs/key.pem
                      credentialName: api-cred
                      insecureSkipVerify: false
                    egressGatewayRoutes:
                      virtualGatewayRefs:
                        - name: egress
                          cluster: cluster-1
                  - number: 8080
                    protocol: HTTP
                    targetPort: {number: 80}
                subjectAltNames: [spiffe://example.com/api]
                selector: {app: api}
                """
        )
        let outcome = try Fixtures.decode(text)
        let expected = ExternalServiceSpec(
            hosts: ["api.example.com"],
            ports: [
                ExternalServicePort(
                    name: "https", number: 443, protocol: .https, targetPort: TargetPort(name: "tls"),
                    clientsideTls: ClientsideTLS(
                        mode: .mutual, sni: "api.example.com", caCertificates: "/etc/certs/ca.pem",
                        clientCertificate: "/etc/certs/cert.pem", privateKey: "/etc/certs/key.pem",
                        credentialName: "api-cred", insecureSkipVerify: false
                    ),
                    egressGatewayRoutes: .object([
                        "virtualGatewayRefs": .array([.object(["name": .string("egress"), "cluster": .string("cluster-1")])])
                    ])
                ),
                ExternalServicePort(number: 8080, protocol: .http, targetPort: TargetPort(number: 80)),
            ],
            subjectAltNames: ["spiffe://example.com/api"],
            selector: ["app": "api"]
        )
        #expect(outcome.violations == [])
        #expect(outcome.resource?.spec == .externalService(expected))
    }

    // MARK: Collecting

    @Test func everyProblemOfADocumentIsReported() throws {
        let text = """
            apiVersion: networking.gloo.solo.io/v2
            kind: ExternalService
            metadata:
              name: broken
              namespace: global
              labels: {version: 2}
            spec:
              hosts: [example.com]
              ports:
                - number: http
                  protocol: UDP
            """
        let found = try violations(text)
        #expect(found.count == 3)
        #expect(found.map(\.field) == ["metadata.labels[version]", "spec.ports[0].number", "spec.ports[0].protocol"])
        #expect(found.allSatisfy { $0.resource == "ExternalService global/broken" })
    }

    @Test func workspaceAndClusterSpecsMayBeOmitted() throws {
        let workspace = try Fixtures.decode("apiVersion: admin.gloo.solo.io/v2\nkind: Workspace\nmetadata: {name: w, namespace: n}\n")
        #expect(workspace.resource?.spec == .workspace(WorkspaceSpec()))
        let cluster = try Fixtures.decode(
            "apiVersion: admin.gloo.solo.io/v2\nkind: KubernetesCluster\nmetadata: {name: c, namespace: n}\n"
        )
        #expect(cluster.resource?.spec == .kubernetesCluster(KubernetesClusterSpec()))
    }

    @Test func workspaceEntriesNeedNames() throws {
        let text = """
            apiVersion: admin.gloo.solo.io/v2
            kind: Workspace
            metadata: {name: w, namespace: gloo-mesh}
            spec:
              workloadClusters:
                - namespaces: [{name: global}, {}]
            """
        #expect(
            try violations(text).map(\.field) == [
                "spec.workloadClusters[0].name", "spec.workloadClusters[0].namespaces[1].name",
            ]
        )
    }
}

extension String {
    /// The string with the first occurrence of `target` replaced; fails loudly in tests when absent.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = firstRange(of: target) else {
            Issue.record("\(target.debugDescription) not found")
            return self
        }
        return replacingCharacters(in: range, with: replacement)
    }
}
