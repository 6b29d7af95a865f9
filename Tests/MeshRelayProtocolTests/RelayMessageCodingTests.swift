import MeshRelayTesting
import MeshRelayProtocol
import NIOCore
import Testing

@Suite("RelayMessageCoding")
struct RelayMessageCodingTests {
    typealias S = CodecTestSupport

    // MARK: Round trips

    @Test("every message type survives frame → bytes → decoder → message", arguments: Fixtures.everyMessage)
    func roundTrip(message: RelayMessage) throws {
        let frame = try RelayMessageCoding.frame(for: message)
        #expect(frame.type == message.frameType)
        #expect(frame.flags == 0)
        #expect(try RelayMessageCoding.message(from: frame) == message)

        let bytes = try RelayMessageCoding.encodedFrame(for: message)
        let frames = try S.decodeAll(Array(bytes.readableBytesView))
        #expect(frames == [frame])
        #expect(try frames.first.flatMap(RelayMessageCoding.message(from:)) == message)
    }

    @Test("encoding is deterministic (labels sorted by key)")
    func deterministic() throws {
        var labels: [String: String] = [:]
        for index in 0..<50 {
            labels["label-\(index)"] = "\(index)"
        }
        let resource = RelayResource(key: Fixtures.key, version: 1, generation: 1, labels: labels, specJSON: [])
        let message = RelayMessage.update(Update(revision: 1, isSnapshot: true, upserts: [resource], removals: []))
        let first = try RelayMessageCoding.encodedFrame(for: message)
        // A dictionary built in another order must give the same bytes.
        var reversed: [String: String] = [:]
        for index in (0..<50).reversed() {
            reversed["label-\(index)"] = "\(index)"
        }
        var other = resource
        other.labels = reversed
        let second = try RelayMessageCoding.encodedFrame(
            for: .update(Update(revision: 1, isSnapshot: true, upserts: [other], removals: []))
        )
        #expect(first == second)
    }

    @Test("an UPDATE of 10,000 resources fits the default limit and round-trips")
    func largeUpdate() throws {
        let update = Fixtures.update(count: 10_000)
        let bytes = try RelayMessageCoding.encodedFrame(for: .update(update))
        #expect(bytes.readableBytes < RelayFrameDecoder.defaultMaximumPayloadBytes)
        let frames = try S.decodeAll(Array(bytes.readableBytesView))
        #expect(frames.count == 1)
        #expect(try frames.first.flatMap(RelayMessageCoding.message(from:)) == .update(update))
    }

    @Test("encoding a payload over the limit is a frameTooLarge error, not a frame")
    func encodeOverLimit() throws {
        let message = RelayMessage.update(Fixtures.update(count: 10))
        let size = try RelayMessageCoding.frame(for: message).payload.readableBytes
        let error = #expect(throws: RelayProtocolError.self) {
            _ = try RelayMessageCoding.encodedFrame(for: message, maximumPayloadBytes: size - 1)
        }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.announcedLength == size)
        #expect(error?.limit == size - 1)
        #expect(try RelayMessageCoding.frame(for: message, maximumPayloadBytes: size).payload.readableBytes == size)
    }

    // MARK: Unknown frame types, flags, reserved bits

    @Test("an unknown frame type with IGNORABLE is skipped (nil)")
    func unknownIgnorable() throws {
        let frame = RelayFrame(type: FrameType(rawValue: 9), flags: RelayFrame.ignorableFlag, payload: ByteBuffer(bytes: [0xff, 0xff]))
        #expect(frame.isIgnorable)
        #expect(try RelayMessageCoding.message(from: frame) == nil)
        // Other flag bits set as well: still ignorable.
        let noisy = RelayFrame(type: FrameType(rawValue: 255), flags: 0xff, payload: ByteBuffer())
        #expect(try RelayMessageCoding.message(from: noisy) == nil)
    }

    @Test("an unknown frame type without IGNORABLE is unsupportedMessage")
    func unknownNotIgnorable() throws {
        for type: UInt8 in [0, 9, 200, 255] {
            let frame = RelayFrame(type: FrameType(rawValue: type), flags: 0b1111_1110, payload: ByteBuffer())
            let error = #expect(throws: RelayProtocolError.self) {
                _ = try RelayMessageCoding.message(from: frame)
            }
            #expect(error?.code == .unsupportedMessage)
            #expect(error?.frameType == FrameType(rawValue: type))
            #expect(error?.relayErrorCode == .unsupportedMessage)
        }
    }

    @Test("a known type decodes whatever the flags and reserved bytes say")
    func reservedBitsIgnored() throws {
        let message = RelayMessage.heartbeat(Heartbeat(sequence: 7))
        let payload = Array(try RelayMessageCoding.frame(for: message).payload.readableBytesView)
        for (flags, reserved) in [(UInt8(0xff), UInt16(0xffff)), (0x01, 0), (0xfe, 0x8001)] {
            let frames = try S.decodeAll(S.frameBytes(type: 6, flags: flags, reserved: reserved, payload: payload))
            #expect(frames.first?.flags == flags)
            #expect(try frames.first.flatMap(RelayMessageCoding.message(from:)) == message)
        }
    }

    // MARK: Unknown protobuf fields (forward compatibility)

    @Test("unknown fields from a newer peer are skipped, at the top level and nested")
    func unknownFieldsIgnored() throws {
        // HEARTBEAT { sequence = 7 } plus field 99 (varint 1), field 100 (bytes "abc"),
        // field 101 (fixed32), field 102 (fixed64), written by hand.
        let heartbeat: [UInt8] =
            [0x98, 0x06, 0x01]  // 99:varint 1
            + [0x08, 0x07]  // 1:varint 7 (sequence)
            + [0xa2, 0x06, 0x03, 0x61, 0x62, 0x63]  // 100:len "abc"
            + [0xad, 0x06, 0x01, 0x02, 0x03, 0x04]  // 101:fixed32
            + [0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]  // 102:fixed64
        let frame = RelayFrame(type: .heartbeat, payload: ByteBuffer(bytes: heartbeat))
        #expect(try RelayMessageCoding.message(from: frame) == .heartbeat(Heartbeat(sequence: 7)))

        // UPDATE { revision = 5; upserts { key {kind "K" name "n" field 9: "x"} version 1 field 50: 1 } field 7: "new" }
        let key: [UInt8] = [0x0a, 0x01, 0x4b, 0x1a, 0x01, 0x6e, 0x4a, 0x01, 0x78]
        let resource: [UInt8] = [0x0a, UInt8(key.count)] + key + [0x10, 0x01, 0x90, 0x03, 0x01]
        let update: [UInt8] = [0x08, 0x05, 0x1a, UInt8(resource.count)] + resource + [0x3a, 0x03, 0x6e, 0x65, 0x77]
        let decoded = try RelayMessageCoding.message(from: RelayFrame(type: .update, payload: ByteBuffer(bytes: update)))
        let expected = Update(
            revision: 5,
            isSnapshot: false,
            upserts: [
                RelayResource(
                    key: RelayResourceKey(kind: "K", namespace: "", name: "n"),
                    version: 1,
                    generation: 0,
                    labels: [:],
                    specJSON: []
                )
            ],
            removals: []
        )
        #expect(decoded == .update(expected))
    }

    @Test("repeated protocol versions are accepted packed and unpacked")
    func packedAndUnpacked() throws {
        // protocol_versions = [1, 2]; cluster "c"
        let packed: [UInt8] = [0x0a, 0x02, 0x01, 0x02, 0x12, 0x01, 0x63]
        let unpacked: [UInt8] = [0x08, 0x01, 0x08, 0x02, 0x12, 0x01, 0x63]
        let expected = RelayMessage.hello(
            Hello(protocolVersions: [1, 2], cluster: "c", agentVersion: "", appliedRevision: 0, held: [], outboundPolicy: "")
        )
        for payload in [packed, unpacked] {
            #expect(try RelayMessageCoding.message(from: RelayFrame(type: .hello, payload: ByteBuffer(bytes: payload))) == expected)
        }
    }

    @Test("an empty payload is every field at its default")
    func emptyPayload() throws {
        let frame = RelayFrame(type: .heartbeat, payload: ByteBuffer())
        #expect(try RelayMessageCoding.message(from: frame) == .heartbeat(Heartbeat(sequence: 0)))
        let drain = RelayFrame(type: .drain, payload: ByteBuffer())
        #expect(try RelayMessageCoding.message(from: drain) == .drain(Drain(message: "", closeAfterMilliseconds: 0)))
    }

    // MARK: Malformed payloads

    static let malformed: [(name: String, type: FrameType, payload: [UInt8], detail: String)] = [
        ("truncated varint", .heartbeat, [0x08, 0xff], "protobuf"),
        ("length past the end", .goodbye, [0x12, 0x05, 0x61], "protobuf"),
        ("invalid UTF-8 string", .goodbye, [0x08, 0x09, 0x12, 0x02, 0xc3, 0x28], "protobuf"),
        ("field number 0", .drain, [0x00, 0x01], "protobuf"),
        ("wire type 7", .drain, [0x0f], "protobuf"),
        ("HELLO without protocol versions", .hello, [0x12, 0x01, 0x63], "protocol_versions: is empty"),
        ("WELCOME with heartbeat 0", .welcome, [0x08, 0x01], "heartbeat_interval_ms: is missing or 0"),
        ("WELCOME with protocol version 0", .welcome, [0x28, 0x01], "protocol_version: is missing or 0"),
        ("REFUSE without code", .refuse, [0x12, 0x01, 0x78], "code: is missing or 0"),
        ("GOODBYE without code", .goodbye, [], "code: is missing or 0"),
        ("UPDATE with a negative revision", .update, [0x08] + [UInt8](repeating: 0xff, count: 9) + [0x01], "revision: is negative (-1)"),
        ("UPDATE upsert without key", .update, [0x1a, 0x02, 0x10, 0x01], "upserts[0].key: is missing"),
        ("UPDATE removal without name", .update, [0x22, 0x03, 0x0a, 0x01, 0x4b], "removals[0].name: is empty"),
        ("HELLO held key without kind", .hello, [0x08, 0x01, 0x2a, 0x05, 0x0a, 0x03, 0x1a, 0x01, 0x6e], "held[0].key.kind: is empty"),
        ("ACK result without state", .ack, [0x12, 0x08, 0x0a, 0x06, 0x0a, 0x01, 0x4b, 0x1a, 0x01, 0x6e], "results[0].state: is missing or 0"),
        (
            "ACK result with an unknown state", .ack,
            [0x12, 0x0a, 0x0a, 0x06, 0x0a, 0x01, 0x4b, 0x1a, 0x01, 0x6e, 0x18, 0x09], "results[0].state: is unknown (9)"
        ),
    ]

    @Test("malformed payloads are malformedPayload errors naming the problem", arguments: 0..<malformed.count)
    func malformedPayload(index: Int) throws {
        let item = Self.malformed[index]
        let frame = RelayFrame(type: item.type, payload: ByteBuffer(bytes: item.payload))
        let error = #expect(throws: RelayProtocolError.self, "\(item.name)") {
            _ = try RelayMessageCoding.message(from: frame)
        }
        #expect(error?.code == .malformedPayload, "\(item.name)")
        #expect(error?.frameType == item.type, "\(item.name)")
        #expect(error?.detail.contains(item.detail) == true, "\(item.name): \(String(describing: error))")
        #expect(error?.relayErrorCode == .malformedFrame)
    }

    @Test("mutated valid frames decode or fail with a typed error (fixed seed)")
    func mutatedFrames() throws {
        var generator = SeededGenerator(seed: 42)
        let frames = try Fixtures.everyMessage.map { try RelayMessageCoding.frame(for: $0) }
        var failures = 0
        for round in 0..<5_000 {
            var frame = frames[round % frames.count]
            var payload = Array(frame.payload.readableBytesView)
            guard !payload.isEmpty else { continue }
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<payload.count, using: &generator)
                payload[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) {
                payload.removeLast(Int.random(in: 0...payload.count, using: &generator))
            }
            frame.payload = ByteBuffer(bytes: payload)
            do {
                _ = try RelayMessageCoding.message(from: frame)
            } catch {
                failures += 1
            }
        }
        #expect(failures > 0)
    }

    // MARK: Errors

    @Test("error codes map to the GOODBYE codes and describe themselves")
    func errorDescriptions() {
        let tooLarge = RelayProtocolError(code: .frameTooLarge, frameType: .update, announcedLength: 17, limit: 16)
        #expect(tooLarge.description == "frameTooLarge: UPDATE frame announces 17 payload bytes, limit 16")
        #expect(tooLarge.relayErrorCode == .malformedFrame)
        let unsupported = RelayProtocolError(code: .unsupportedMessage, frameType: FrameType(rawValue: 9), detail: "x")
        #expect(unsupported.description == "unsupportedMessage: TYPE(9) frame: x")
        #expect(unsupported.relayErrorCode == .unsupportedMessage)
        #expect(RelayProtocolError(code: .truncated).description == "truncated")
        #expect(RelayProtocolError(code: .truncated).relayErrorCode == .malformedFrame)
        #expect(RelayProtocolError(code: .encodingFailed).relayErrorCode == .internalError)
        #expect(RelayProtocolError(code: .malformedPayload).relayErrorCode == .malformedFrame)
    }
}
