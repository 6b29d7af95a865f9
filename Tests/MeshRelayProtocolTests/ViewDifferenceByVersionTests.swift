import MeshRelayTesting
import NIOCore
import NIOEmbedded
import Testing

@testable import MeshRelayProtocol

/// ``ClusterView/difference(from:)-(ClusterView)`` (by version, for views of one membership)
/// against the lookup-per-resource difference, over random histories of a store: resources
/// created, changed (their version becomes the revision) and deleted, views listed after their
/// revision committed.
@Suite("ClusterView: difference by version")
struct ViewDifferenceByVersionTests {
    @Test func equalsTheLookupDifferenceOverRandomHistories() {
        var random = SeededGenerator(seed: 21)
        for _ in 0..<200 {
            var store: [RelayResourceKey: RelayResource] = [:]
            var revision: Int64 = 0
            var views: [ClusterView] = []
            for _ in 0..<12 {
                for _ in 0..<Int.random(in: 1...4, using: &random) {
                    revision += 1
                    let name = "r\(Int.random(in: 0..<15, using: &random))"
                    let key = RelayResourceKey(kind: "ExternalService", namespace: "ns", name: name)
                    if store[key] != nil, Int.random(in: 0..<4, using: &random) == 0 {
                        store[key] = nil
                    } else {
                        store[key] = RelayResource(key: key, version: revision, generation: 1, labels: [:], specJSON: Array(name.utf8))
                    }
                }
                // Listed at `revision`, or labelled with an older revision than its content
                // (the revision was read before the list): both happen.
                let label = revision - Int64.random(in: 0...1, using: &random)
                views.append(ClusterView(revision: label, resources: store, membership: ["ns"]))
            }
            for (index, known) in views.enumerated() {
                for view in views[index...] {
                    guard let fast = view.difference(from: known) else {
                        Issue.record("same membership: a difference")
                        continue
                    }
                    let exact = view.difference(from: known.versions)
                    // Exact removals; upserts may also repeat resources `known` already holds at
                    // that version (listed after its revision), never miss one.
                    #expect(fast.removals == exact.removals)
                    #expect(Set(exact.upserts.map(\.key)).isSubset(of: Set(fast.upserts.map(\.key))))
                    for resource in fast.upserts where !exact.upserts.contains(resource) {
                        #expect(known.resources[resource.key] == resource)
                    }
                    #expect(fast.upserts.map(\.key) == fast.upserts.map(\.key).sorted())
                    // Applying it to what `known` holds gives the view.
                    var held = known.versions
                    for resource in fast.upserts { held[resource.key] = resource.version }
                    for key in fast.removals { held[key] = nil }
                    #expect(held == view.versions)
                }
            }
        }
    }

    @Test func anotherMembershipOrAnUnknownOneGivesNoShortcut() {
        let resource = SessionFixtures.resource("a", 1)
        let one = ClusterView(revision: 1, resources: [resource.key: resource], membership: ["ns"])
        let other = ClusterView(revision: 2, resources: [resource.key: resource], membership: ["ns", "other"])
        let unknown = ClusterView(revision: 2, resources: [resource.key: resource])
        #expect(other.difference(from: one) == nil)
        #expect(unknown.difference(from: one) == nil)
        #expect(one.difference(from: unknown) == nil)
    }
}

@Suite("RelayFrameWriter")
struct RelayFrameWriterTests {
    @Test("writes the bytes RelayFrameEncoder writes, as one buffer when the header is in place", arguments: Fixtures.everyMessage)
    func sameBytes(message: RelayMessage) throws {
        let channel = EmbeddedChannel(handler: RelayFrameWriter())
        try channel.writeOutbound(try RelayMessageCoding.frame(for: message))
        let written = try channel.readOutbound(as: ByteBuffer.self)
        #expect(written == (try RelayMessageCoding.encodedFrame(for: message)))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try channel.finish().isClean)
    }

    @Test func aSmallFrameWithoutAHeaderInPlaceIsCopiedWhole() throws {
        let channel = EmbeddedChannel(handler: RelayFrameWriter())
        try channel.writeOutbound(RelayFrame(type: .heartbeat, payload: ByteBuffer(bytes: [1, 2, 3])))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0, 0, 0, 3, 6, 0, 0, 0, 1, 2, 3]))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }

    @Test func aLargePayloadFollowsItsHeaderUncopied() throws {
        let channel = EmbeddedChannel(handler: RelayFrameWriter())
        let payload = ByteBuffer(repeating: 7, count: RelayFrameWriter.directPayloadBytes)
        try channel.writeOutbound(RelayFrame(type: .update, payload: payload))
        var header = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(header.readInteger(as: UInt32.self) == UInt32(payload.readableBytes))
        #expect(header.readInteger(as: UInt8.self) == FrameType.update.rawValue)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == payload)
        _ = try channel.finish()
    }

    @Test func aFrameOverTheLimitFailsItsWriteAndWritesNothing() throws {
        let channel = EmbeddedChannel(handler: RelayFrameWriter(maximumPayloadBytes: 4))
        #expect(throws: RelayProtocolError.self) { try channel.writeOutbound(RelayFrame(type: .update, payload: ByteBuffer(bytes: [1, 2, 3, 4, 5]))) }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }
}
