import MeshRelayModel
import MeshRelayTranslation
import Testing

/// `Translator.describe`: what `meshrelay describe` shows of one service in one cluster.
@Suite struct ServiceDescriptionTests {
    typealias F = TranslationFixtures

    @Test func sharedHostsNameEveryClaimantInPrecedenceOrderAndTheSelectedEndpoints() throws {
        let endpoint = F.endpoint("api-1", address: "10.1.0.1", ports: [EndpointPort(name: "http", number: 8080)], labels: ["app": "api"])
        let older = F.service("api-old", hosts: ["api.example.com"], selector: ["app": "api"], created: "2026-01-01T00:00:00Z")
        let newer = F.service(
            "api-new", namespace: "team-a", hosts: ["api.example.com", "other.example.com"], created: "2026-02-01T00:00:00Z"
        )
        let input = F.input([newer, older], endpoints: [endpoint])

        let winner = try #require(Translator.describe(ResourceKey(kind: .externalService, namespace: "global", name: "api-old"), in: input))
        #expect(winner.selectedEndpoints == [ResourceKey(kind: .externalEndpoint, namespace: "global", name: "api-1")])
        #expect(winner.claims.map(\.target) == ["api.example.com:80"])
        #expect(winner.conflicts.first?.claimants.map(\.name) == ["api-old", "api-new"])
        #expect(winner.warnings.isEmpty)

        let loser = try #require(Translator.describe(ResourceKey(kind: .externalService, namespace: "team-a", name: "api-new"), in: input))
        #expect(loser.claims.map(\.target) == ["api.example.com:80", "other.example.com:80"])
        #expect(loser.conflicts.map(\.target) == ["api.example.com:80"])
        #expect(loser.conflicts.first?.winner?.name == "api-old")
        #expect(loser.warnings.contains { $0.contains("already claimed by ExternalService global/api-old") }, "\(loser.warnings)")
        #expect(Translator.describe(ResourceKey(kind: .externalService, namespace: "global", name: "absent"), in: input) == nil)
    }

    @Test func anInvalidServiceClaimsNothingAndSaysWhy() throws {
        let broken = F.service("broken", hosts: ["api.example.com"], ports: [])
        let valid = F.service("valid", hosts: ["api.example.com"], created: "2026-03-01T00:00:00Z")
        let input = F.input([broken, valid])
        let described = try #require(Translator.describe(ResourceKey(kind: .externalService, namespace: "global", name: "broken"), in: input))
        #expect(described.failure != nil)
        let other = try #require(Translator.describe(ResourceKey(kind: .externalService, namespace: "global", name: "valid"), in: input))
        #expect(other.conflicts.isEmpty)
    }
}
