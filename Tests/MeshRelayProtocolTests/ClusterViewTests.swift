import MeshRelayProtocol
import Testing

@Suite("ClusterView")
struct ClusterViewTests {
    typealias F = SessionFixtures

    struct DifferenceCase: Sendable, CustomTestStringConvertible {
        var name: String
        var held: [RelayResourceKey: Int64]
        var upserts: [String]
        var removals: [String]
        var testDescription: String { name }
    }

    static let view = F.view(
        9,
        F.resource("c", 3),
        F.resource("a", 1),
        F.resource("b", 9),
        F.resource("a", 1, kind: "ExternalEndpoint")
    )

    static let cases: [DifferenceCase] = [
        DifferenceCase(name: "holds nothing: everything, sorted by kind then name", held: [:], upserts: ["EE a", "ES a", "ES b", "ES c"], removals: []),
        DifferenceCase(
            name: "holds exactly the view: nothing",
            held: view.versions,
            upserts: [],
            removals: []
        ),
        DifferenceCase(
            name: "older, newer and extra versions",
            held: F.versions(["a": 1, "b": 8, "c": 4, "z": 2, "y": 1]).merging([F.key("a", kind: "ExternalEndpoint"): 1]) { $1 },
            upserts: ["ES b", "ES c"],
            removals: ["ES y", "ES z"]
        ),
    ]

    @Test("difference(from:) lists what differs, sorted by key", arguments: cases)
    func difference(_ testCase: DifferenceCase) {
        let (upserts, removals) = Self.view.difference(from: testCase.held)
        func label(_ key: RelayResourceKey) -> String {
            (key.kind == "ExternalEndpoint" ? "EE " : "ES ") + key.name
        }
        #expect(upserts.map { label($0.key) } == testCase.upserts)
        #expect(removals.map(label) == testCase.removals)
        for resource in upserts {
            #expect(Self.view.resources[resource.key] == resource)
        }
    }

    @Test("a view from a list keeps the last resource of a repeated key")
    func lastWins() {
        let view = F.view(2, F.resource("a", 1), F.resource("a", 2))
        #expect(view.resources.count == 1)
        #expect(view.versions == F.versions(["a": 2]))
    }

    @Test("the snapshot update is the whole view, sorted, with no removals")
    func snapshotUpdate() {
        let update = Self.view.snapshotUpdate
        #expect(update.revision == 9)
        #expect(update.isSnapshot)
        #expect(update.removals.isEmpty)
        #expect(update.upserts == Self.view.difference(from: [:]).upserts)
    }
}
