import Foundation
@testable import MeshRelayCLI
import MeshRelayTesting
import Testing

@Suite("HTTP API on a real socket")
struct APIRouterTests {
    static let esPath = "/apis/networking.gloo.solo.io/v2/namespaces/global/externalservices"

    @Test func mutationsWithoutOrWithWrongTokenAre401AndChangeNothing() async throws {
        try await withTestServer { server in
            let body = Array(googleManifest.utf8)
            for client in [try server.anonymous, try server.client(token: "wrong-token")] {
                let attempts: [APIClient.Reply] = [
                    try await client.send(.POST, "/api/v1/apply", body: body),
                    try await client.send(.POST, "/api/v1/delete", body: body),
                    try await client.send(.POST, Self.esPath, body: body),
                    try await client.send(.PUT, Self.esPath + "/google", body: body),
                    try await client.send(.DELETE, Self.esPath + "/google"),
                ]
                for reply in attempts {
                    #expect(reply.status == 401, "got \(reply.status): \(reply.text)")
                    #expect(try json(reply)["reason"] as? String == "Unauthorized")
                }
            }
            let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
            #expect(status["revision"] as? Int == 0)
            #expect((status["resources"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func brokenYAMLIs400WithLineAndColumn() async throws {
        try await withTestServer { server in
            let broken = "apiVersion: networking.gloo.solo.io/v2\nkind: ExternalService\nmetadata:\n  name: x\n   namespace: y\n"
            let reply = try await server.authorized.send(.POST, "/api/v1/apply", body: Array(broken.utf8))
            #expect(reply.status == 400)
            let body = try json(reply)
            let causes = try #require((body["details"] as? [String: Any])?["causes"] as? [[String: Any]])
            #expect(causes.first?["line"] as? Int == 5)
            #expect(causes.first?["column"] as? Int != nil)
            #expect((body["message"] as? String)?.contains("line 5") == true)
        }
    }

    @Test func invalidResourceIs422ListingEveryViolation() async throws {
        try await withTestServer { server in
            let invalid = """
                apiVersion: networking.gloo.solo.io/v2
                kind: ExternalService
                metadata:
                  name: both
                  namespace: global
                spec:
                  hosts: ["www.example.com"]
                  addresses: ["10.0.0.1"]
                  ports:
                  - {name: http, number: 0, protocol: HTTP}
                  - {name: http, number: 70000, protocol: UDP}
                """
            let reply = try await server.authorized.send(.POST, "/api/v1/apply", body: Array(invalid.utf8))
            #expect(reply.status == 422, "\(reply.text)")
            let body = try json(reply)
            #expect(body["reason"] as? String == "Invalid")
            let causes = try #require((body["details"] as? [String: Any])?["causes"] as? [[String: Any]])
            let fields = Set(causes.compactMap { $0["field"] as? String })
            #expect(causes.count >= 4, "\(causes)")
            #expect(fields.contains("spec.ports[0].number"))
            #expect(fields.contains("spec.ports[1].number"))
            #expect(fields.contains("spec.ports[1].protocol"))
            #expect(causes.allSatisfy { ($0["resource"] as? String) == "ExternalService global/both" })
        }
    }

    @Test func multiDocumentApplyIsAllOrNothing() async throws {
        try await withTestServer { server in
            let mixed = googleManifest + """

                ---
                apiVersion: networking.gloo.solo.io/v2
                kind: ExternalService
                metadata:
                  name: bad
                  namespace: global
                spec:
                  hosts: ["*"]
                  ports: [{name: http, number: 80, protocol: HTTP}]
                """
            let reply = try await server.authorized.send(.POST, "/api/v1/apply", body: Array(mixed.utf8))
            #expect(reply.status == 422)
            let list = try json(try await server.anonymous.send(.GET, Self.esPath))
            #expect((list["items"] as? [Any])?.isEmpty == true, "nothing may be stored: \(list)")
            let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
            #expect(status["revision"] as? Int == 0)
        }
    }

    @Test func applyGetListDeleteRoundTrip() async throws {
        try await withTestServer { server in
            let client = try server.authorized
            let first = try json(try await client.send(.POST, "/api/v1/apply", body: Array(googleManifest.utf8)))
            let results = try #require(first["results"] as? [[String: Any]])
            #expect(results.first?["action"] as? String == "created")
            #expect(first["revision"] as? Int == 1)

            // Unchanged input: no new generation, no new revision.
            let second = try json(try await client.send(.POST, "/api/v1/apply", body: Array(googleManifest.utf8)))
            #expect((second["results"] as? [[String: Any]])?.first?["action"] as? String == "unchanged")
            #expect(second["revision"] as? Int == 1)

            let object = try json(try await client.send(.GET, Self.esPath + "/google"))
            let metadata = try #require(object["metadata"] as? [String: Any])
            #expect(metadata["generation"] as? Int == 1)
            #expect(metadata["resourceVersion"] as? String == "1")
            #expect(metadata["uid"] as? String != nil)
            let state = ((object["status"] as? [String: Any])?["common"] as? [String: Any])?["state"] as? [String: Any]
            #expect(state?["approval"] as? String == "ACCEPTED")

            let clusterWide = try json(try await client.send(.GET, "/apis/networking.gloo.solo.io/v2/externalservices"))
            #expect((clusterWide["items"] as? [Any])?.count == 1)
            #expect(clusterWide["kind"] as? String == "ExternalServiceList")

            let status = try json(try await client.send(.GET, "/api/v1/status"))
            let resources = try #require(status["resources"] as? [[String: Any]])
            #expect(resources.first?["name"] as? String == "google")
            #expect(resources.first?["state"] as? String == "ACCEPTED")
            #expect(resources.first?["generation"] as? Int == 1)
            #expect(status["clusters"] as? [Any] != nil)

            let deleted = try await client.send(.DELETE, Self.esPath + "/google")
            #expect(deleted.status == 200)
            #expect(try await client.send(.GET, Self.esPath + "/google").status == 404)
            #expect(try await client.send(.DELETE, Self.esPath + "/google").status == 404)
            #expect(try json(try await client.send(.GET, "/api/v1/status"))["revision"] as? Int == 2)
        }
    }

    @Test func statusShowsRegisteredClustersAndPendingResources() async throws {
        try await withTestServer { server in
            let manifest = SeedManifests.stream([SeedManifests.cluster("cluster-1"), googleManifest])
            let reply = try await server.authorized.send(.POST, "/api/v1/apply", body: Array(manifest.utf8))
            #expect(reply.status == 200, "\(reply.text)")
            let status = try json(try await server.anonymous.send(.GET, "/api/v1/status"))
            let clusters = try #require(status["clusters"] as? [[String: Any]])
            #expect(clusters.first?["name"] as? String == "cluster-1")
            #expect(clusters.first?["connected"] as? Bool == false)
            #expect(clusters.first?["appliedRevision"] as? Int == 0)
            let resources = try #require(status["resources"] as? [[String: Any]])
            let google = try #require(resources.first { $0["name"] as? String == "google" })
            #expect(google["state"] as? String == "PENDING")
            let perCluster = try #require(google["clusters"] as? [[String: Any]])
            #expect(perCluster.first?["name"] as? String == "cluster-1")
            #expect(perCluster.first?["state"] as? String == "PENDING")
        }
    }

    @Test func singleObjectPathsCheckTheBodyAgainstThePath() async throws {
        try await withTestServer { server in
            let client = try server.authorized
            let created = try await client.send(.PUT, Self.esPath + "/google", body: Array(googleManifest.utf8))
            #expect(created.status == 201, "\(created.text)")
            let again = try await client.send(.PUT, Self.esPath + "/google", body: Array(googleManifest.utf8))
            #expect(again.status == 200)
            let mismatch = try await client.send(.PUT, Self.esPath + "/other", body: Array(googleManifest.utf8))
            #expect(mismatch.status == 400)
            let unknownType = try await client.send(.GET, "/apis/networking.gloo.solo.io/v2/namespaces/global/virtualservices")
            #expect(unknownType.status == 404)
        }
    }

    @Test func oversizedBodyIs413() async throws {
        try await withTestServer(maximumBodyBytes: 4096) { server in
            let big = Array(repeating: UInt8(ascii: "#"), count: 8192)
            let reply = try await server.authorized.send(.POST, "/api/v1/apply", body: big)
            #expect(reply.status == 413)
        }
    }

    @Test func healthReadinessAndMetrics() async throws {
        try await withTestServer { server in
            let client = try server.anonymous
            #expect(try await client.send(.GET, "/healthz").status == 200)
            #expect(try await client.send(.GET, "/readyz").status == 200)
            _ = try await server.authorized.send(.POST, "/api/v1/apply", body: Array(googleManifest.utf8))
            let metrics = try await client.send(.GET, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains("meshrelay_revision 1"))
            #expect(metrics.text.contains("meshrelay_api_requests_total"))
        }
    }
}
