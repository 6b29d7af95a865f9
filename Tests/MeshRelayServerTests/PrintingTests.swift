import Foundation
@testable import MeshRelayCLI
import MeshRelayTesting
import Testing

@Suite("Server-side printing and JSON output")
struct PrintingTests {
    @Test func listAsTableHasKubectlColumnsAndRows() async throws {
        try await withTestServer { server in
            let manifest = SeedManifests.stream([SeedManifests.google, SeedManifests.googleWildcard])
            #expect(try await server.authorized.send(.POST, "/api/v1/apply", body: Array(manifest.utf8)).status == 200)
            let reply = try await server.anonymous.send(
                .GET, "/apis/networking.gloo.solo.io/v2/externalservices", accept: "application/json;as=Table;g=meta.k8s.io;v=v1")
            #expect(reply.status == 200)
            let table = try JSONDecoder().decode(ServerTable.self, from: Data(reply.body))
            #expect(table.columnDefinitions.map(\.name) == ["Name", "Hosts/Addresses", "Ports", "State", "Generation", "Clusters Applied", "Message", "Age"])
            #expect(table.rows.map { $0.cells[0] } == ["google-wildcard", "google"])
            #expect(table.rows.first?.object?.metadata.namespace == "bookinfo")
            #expect(table.rows.last?.cells[1] == "www.google.com")
            #expect(table.rows.last?.cells[2] == "80/HTTP")
            let text = table.render(showNamespace: true, wide: false)
            let lines = text.split(separator: "\n")
            #expect(lines.first?.hasPrefix("NAMESPACE   NAME") == true)
            #expect(!text.contains("GENERATION"))
            #expect(table.render(showNamespace: false, wide: true).contains("GENERATION"))
            // Without the Accept header the same path returns the objects.
            let objects = try json(try await server.anonymous.send(.GET, "/apis/networking.gloo.solo.io/v2/externalservices"))
            #expect(objects["kind"] as? String == "ExternalServiceList")
        }
    }

    @Test func objectsSurviveEscapingInLabelsAndAnnotations() async throws {
        try await withTestServer { server in
            let manifest = """
                apiVersion: networking.gloo.solo.io/v2
                kind: ExternalService
                metadata:
                  name: quoted
                  namespace: global
                  labels: {team: payments}
                  annotations: {note: "say \\"hi\\"\\nand\\ttab \\\\ done ünïcode"}
                spec:
                  hosts: [api.example.com]
                  ports: [{name: https, number: 443, protocol: HTTPS}]
                """
            let applied = try await server.authorized.send(.POST, "/api/v1/apply", body: Array(manifest.utf8))
            #expect(applied.status == 200, "\(applied.text)")
            let object = try json(try await server.anonymous.send(.GET, "/apis/networking.gloo.solo.io/v2/namespaces/global/externalservices/quoted"))
            let metadata = try #require(object["metadata"] as? [String: Any])
            #expect((metadata["annotations"] as? [String: String])?["note"] == "say \"hi\"\nand\ttab \\ done ünïcode")
            #expect((metadata["labels"] as? [String: String])?["team"] == "payments")
            // The object reads back and applies again unchanged.
            let spec = try #require(object["spec"] as? [String: Any])
            #expect(spec["hosts"] as? [String] == ["api.example.com"])
        }
    }

    @Test(arguments: [
        ("{}", "{}"),
        ("[]", "[]"),
        ("{\"a\":1,\"b\":[1,2],\"c\":{}}", "{\n  \"a\": 1,\n  \"b\": [\n    1,\n    2\n  ],\n  \"c\": {}\n}"),
        ("{\"s\":\"x,{y}:[z] \\\"q\\\"\"}", "{\n  \"s\": \"x,{y}:[z] \\\"q\\\"\"\n}"),
    ])
    func indenterKeepsStringsAndIndentsStructure(input: String, expected: String) {
        #expect(JSONIndenter.indent(Array(input.utf8)) == expected)
    }
}
