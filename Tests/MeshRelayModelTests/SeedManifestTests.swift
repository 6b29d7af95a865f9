import Testing

@testable import MeshRelayModel

/// The Gloo guide's manifests and one of each other kind load as written.
@Suite struct SeedManifestTests {
    @Test func googleDecodesToTheGuidesExternalService() throws {
        let outcome = try Fixtures.decode(Fixtures.google)
        let resource = try #require(outcome.resource, "\(outcome.violations)")
        #expect(resource.key == ResourceKey(kind: .externalService, namespace: "global", name: "google"))
        #expect(
            resource.spec
                == .externalService(
                    ExternalServiceSpec(
                        hosts: ["www.google.com"],
                        ports: [ExternalServicePort(name: "http", number: 80, protocol: .http)],
                        selector: [:]
                    )
                )
        )
        #expect(Validator.validate(resource) == [])
    }

    @Test func googleWildcardDecodesAndValidates() throws {
        let outcome = try Fixtures.decode(Fixtures.googleWildcard)
        let resource = try #require(outcome.resource, "\(outcome.violations)")
        #expect(resource.key == ResourceKey(kind: .externalService, namespace: "bookinfo", name: "google-wildcard"))
        guard case .externalService(let spec) = resource.spec else {
            Issue.record("not an ExternalService: \(resource.spec)")
            return
        }
        #expect(spec.hosts == ["*.google.com"])
        #expect(spec.selector == [:])
        #expect(Validator.validate(resource) == [])
    }

    @Test func bothSeedsLoadAsOneMultiDocumentManifest() throws {
        let resources = try Manifest.load(Fixtures.google + "\n---\n" + Fixtures.googleWildcard + "\n")
        #expect(resources.map(\.key.description) == [
            "ExternalService global/google", "ExternalService bookinfo/google-wildcard",
        ])
    }

    @Test(arguments: [
        ("endpoint", "ExternalEndpoint global/google-ep"),
        ("workspace", "Workspace gloo-mesh/mgmt"),
        ("cluster", "KubernetesCluster gloo-mesh/cluster-1"),
    ])
    func otherKindsLoad(fixture: String, key: String) throws {
        let manifest = ["endpoint": Fixtures.endpoint, "workspace": Fixtures.workspace, "cluster": Fixtures.cluster]
        let resources = try Manifest.load(try #require(manifest[fixture]))
        #expect(resources.map(\.key.description) == [key])
    }

    @Test func endpointFieldsAreKept() throws {
        let resource = try #require(try Manifest.load(Fixtures.endpoint).first)
        #expect(resource.metadata.labels == ["external-service": "google"])
        #expect(
            resource.spec
                == .externalEndpoint(
                    ExternalEndpointSpec(
                        address: "142.250.0.1",
                        ports: [EndpointPort(name: "http", number: 80), EndpointPort(name: "https", number: 443)],
                        locality: Locality(region: "us-east1", zone: "us-east1-b")
                    )
                )
        )
    }

    @Test func workspaceAndClusterFieldsAreKept() throws {
        let resources = try Manifest.load(Fixtures.workspace + "\n---\n" + Fixtures.cluster)
        #expect(
            resources.map(\.spec) == [
                .workspace(
                    WorkspaceSpec(workloadClusters: [WorkspaceCluster(name: "*", namespaces: [WorkspaceNamespace(name: "*")])])
                ),
                .kubernetesCluster(KubernetesClusterSpec(clusterDomain: "cluster.local")),
            ]
        )
    }

    @Test func theSameServiceAsJSONLoadsToTheSameResource() throws {
        let json = """
            {"apiVersion": "networking.gloo.solo.io/v2", "kind": "ExternalService",
             "metadata": {"name": "google", "namespace": "global"},
             "spec": {"hosts": ["www.google.com"], "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}],
                      "selector": {}}}
            """
        #expect(try Manifest.load(json) == Manifest.load(Fixtures.google))
    }

    @Test func kubectlGetOutputWithServerFieldsAndStatusLoads() throws {
        let pasted = """
            apiVersion: networking.gloo.solo.io/v2
            kind: ExternalService
            metadata:
              annotations:
                kubectl.kubernetes.io/last-applied-configuration: |
                  {"apiVersion":"networking.gloo.solo.io/v2","kind":"ExternalService"}
              creationTimestamp: "2023-05-11T17:07:43Z"
              generation: 1
              managedFields:
                - manager: kubectl
                  operation: Update
              name: google
              namespace: global
              resourceVersion: "123456"
              uid: 0b7e3b7e-1111-2222-3333-444455556666
            spec:
              hosts:
                - www.google.com
              ports:
                - name: http
                  number: 80
                  protocol: HTTP
              selector: {}
            status:
              common:
                state:
                  approval: ACCEPTED
                  observedGeneration: 1
              numSelectedExternalEndpoints: 0
              ownedByWorkspace: global
            """
        let resource = try #require(try Manifest.load(pasted).first)
        #expect(resource.metadata.uid == nil)
        #expect(resource.metadata.generation == nil)
        #expect(resource.metadata.resourceVersion == nil)
        #expect(resource.metadata.creationTimestamp == nil)
        #expect(resource.metadata.annotations?.keys.sorted() == ["kubectl.kubernetes.io/last-applied-configuration"])
        #expect(resource.spec == (try Manifest.load(Fixtures.google).first?.spec))
    }
}
