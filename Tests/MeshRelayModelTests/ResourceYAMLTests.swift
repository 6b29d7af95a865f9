import Foundation
import Testing

@testable import MeshRelayModel

@Suite struct ResourceYAMLTests {
    private static let resources: [Resource] = [
        Resource(
            metadata: ObjectMeta(
                name: "tricky", namespace: "global", labels: ["version": "010", "enabled": "yes", "empty": ""],
                annotations: [
                    "note": "multi\nline: value # not a comment", "80": "80", "null": "null", "true": "yes", "star": "*.x",
                    "float": "+.5", "exp": ".5e3", "oct": "0o17", "empty": "", "tilde": "~", "unicode": "café ✓",
                    "pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "trailing": "a \n b\t\n",
                    "crlf": "a\r\nb", "leading": "\n\nx",
                ]
            ),
            spec: .externalService(
                ExternalServiceSpec(
                    hosts: ["*.google.com", "www.google.com"],
                    ports: [
                        ExternalServicePort(name: "http", number: 80, protocol: .http),
                        ExternalServicePort(
                            name: "https", number: 443, protocol: .https, targetPort: TargetPort(number: 8443),
                            clientsideTls: ClientsideTLS(mode: .simple, sni: "www.google.com", insecureSkipVerify: false),
                            egressGatewayRoutes: .object([
                                "refs": .array([.string("a"), .int(3), .double(1.5), .bool(true), .null, .object([:])])
                            ])
                        ),
                    ],
                    subjectAltNames: ["spiffe://x/y"],
                    selector: [:]
                )
            )
        ),
        Resource(
            metadata: ObjectMeta(name: "ips", namespace: "global"),
            spec: .externalService(
                ExternalServiceSpec(addresses: ["10.0.0.0/8", "::1"], ports: [ExternalServicePort(number: 5432, protocol: .tcp)])
            )
        ),
        Resource(
            metadata: ObjectMeta(name: "ep", namespace: "global"),
            spec: .externalEndpoint(
                ExternalEndpointSpec(
                    address: "unix:///var/run/db.sock", ports: [EndpointPort(number: 1)], locality: Locality(region: "r")
                )
            )
        ),
        Resource(
            metadata: ObjectMeta(name: "ws", namespace: "gloo-mesh"),
            spec: .workspace(
                WorkspaceSpec(workloadClusters: [WorkspaceCluster(name: "*", namespaces: [WorkspaceNamespace(name: "*")])])
            )
        ),
        Resource(metadata: ObjectMeta(name: "cluster-1", namespace: "gloo-mesh"), spec: .kubernetesCluster(KubernetesClusterSpec())),
    ]

    @Test func yamlRoundTripsThroughManifestLoad() throws {
        let yaml = ResourceYAML.string(for: Self.resources)
        #expect(try Manifest.load(yaml) == Self.resources)
    }

    @Test func jsonListRoundTripsThroughManifestLoad() throws {
        let json = try ResourceJSON.listData(for: Self.resources)
        #expect(try Manifest.load(String(decoding: json, as: UTF8.self)) == Self.resources)
    }

    @Test func theSeedPrintsLikeKubectl() throws {
        let resources = try Manifest.load(Fixtures.google)
        #expect(
            ResourceYAML.string(for: resources) == """
                apiVersion: networking.gloo.solo.io/v2
                kind: ExternalService
                metadata:
                  name: google
                  namespace: global
                spec:
                  hosts:
                  - www.google.com
                  ports:
                  - name: http
                    number: 80
                    protocol: HTTP
                  selector: {}

                """
        )
    }

    @Test func multiLineStringsArePrintedAsLiteralBlocks() throws {
        var resource = try #require(try Manifest.load(Fixtures.google).first)
        resource.metadata.annotations = ["ca": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"]
        let yaml = ResourceYAML.string(for: [resource])
        #expect(yaml.contains("  annotations:\n    ca: |\n      -----BEGIN CERTIFICATE-----\n      MIIB\n"))
        #expect(try Manifest.load(yaml) == [resource])
    }

    @Test func documentsAreSeparated() throws {
        let resources = try Manifest.load(Fixtures.google + "\n---\n" + Fixtures.googleWildcard)
        let yaml = ResourceYAML.string(for: resources)
        #expect(yaml.components(separatedBy: "\n---\n").count == 2)
        #expect(yaml.contains("- '*.google.com'"))
        #expect(ResourceYAML.string(for: []) == "")
    }

    @Test func serverOwnedMetadataIsPrintedButNotReadBack() throws {
        var resource = try #require(try Manifest.load(Fixtures.google).first)
        resource.metadata.uid = "u-1"
        resource.metadata.generation = 2
        resource.metadata.resourceVersion = "17"
        resource.metadata.creationTimestamp = "2026-11-30T14:22:11Z"
        let yaml = ResourceYAML.string(for: [resource])
        #expect(yaml.contains("resourceVersion: '17'"))
        #expect(yaml.contains("generation: 2"))
        #expect(try Manifest.load(yaml) == [ResourceYAML.userOwned(resource)])
    }

    @Test func jsonIsSortedAndLoadable() throws {
        let resource = try #require(try Manifest.load(Fixtures.google).first)
        let compact = try ResourceJSON.data(for: resource, pretty: false)
        #expect(
            String(decoding: compact, as: UTF8.self)
                == #"{"apiVersion":"networking.gloo.solo.io/v2","kind":"ExternalService","metadata":{"name":"google","namespace":"global"},"spec":{"hosts":["www.google.com"],"ports":[{"name":"http","number":80,"protocol":"HTTP"}],"selector":{}}}"#
        )
        #expect(try Manifest.load(ResourceJSON.string(for: resource)) == [resource])
    }
}

extension ResourceYAML {
    /// The resource without server-owned metadata.
    static func userOwned(_ resource: Resource) -> Resource {
        Resource(metadata: resource.metadata.userOwned, spec: resource.spec)
    }
}
