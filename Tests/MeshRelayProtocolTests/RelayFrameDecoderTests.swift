import MeshRelayTesting
import MeshRelayProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite("RelayFrameDecoder")
struct RelayFrameDecoderTests {
    typealias S = CodecTestSupport

    // MARK: Verifier

    @Test("splits frames fed byte by byte and in batches (ByteToMessageDecoderVerifier)")
    func verifier() throws {
        let empty = RelayFrame(type: .heartbeat, payload: ByteBuffer())
        let heartbeat = try RelayMessageCoding.frame(for: .heartbeat(Heartbeat(sequence: 300)))
        let goodbye = try RelayMessageCoding.frame(for: .goodbye(Goodbye(code: .normal, message: "bye")))
        let unknown = RelayFrame(type: FrameType(rawValue: 200), flags: 0xff, payload: ByteBuffer(bytes: [1, 2, 3]))
        let update = try RelayMessageCoding.frame(for: .update(Fixtures.update(count: 3)))

        func wire(_ frames: RelayFrame...) throws -> ByteBuffer {
            var out = ByteBuffer()
            for frame in frames {
                try RelayFrameEncoder().encode(data: frame, out: &out)
            }
            return out
        }

        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (try wire(empty), [empty]),
                (try wire(heartbeat), [heartbeat]),
                (try wire(goodbye, unknown), [goodbye, unknown]),
                (try wire(update), [update]),
                (try wire(heartbeat, update, empty), [heartbeat, update, empty]),
            ],
            decoderFactory: { RelayFrameDecoder() }
        )
    }

    @Test("the verifier at the limit: payloads of exactly the maximum size and of 0 bytes")
    func verifierAtLimit() throws {
        let full = RelayFrame(type: .update, payload: ByteBuffer(repeating: 0x5a, count: 64))
        let empty = RelayFrame(type: .drain, payload: ByteBuffer())
        var bytes = ByteBuffer()
        try RelayFrameEncoder().encode(data: full, out: &bytes)
        try RelayFrameEncoder().encode(data: empty, out: &bytes)
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(bytes, [full, empty])],
            decoderFactory: { RelayFrameDecoder(maximumPayloadBytes: 64) }
        )
    }

    @Test("passes type, flags and payload through; ignores the reserved bytes")
    func headerFields() throws {
        let bytes = S.frameBytes(type: 0x42, flags: 0xfe, reserved: 0xbeef, payload: [9, 8, 7])
        let frames = try S.decodeAll(bytes)
        #expect(frames == [RelayFrame(type: FrameType(rawValue: 0x42), flags: 0xfe, payload: ByteBuffer(bytes: [9, 8, 7]))])
        #expect(frames.first?.isIgnorable == false)
    }

    // MARK: Maximum payload size

    @Test("accepts a payload of exactly the maximum size")
    func payloadAtLimit() throws {
        let limit = 1000
        let payload = [UInt8](repeating: 0xab, count: limit)
        let frames = try S.decodeAll(S.frameBytes(type: 4, payload: payload), maximumPayloadBytes: limit)
        #expect(frames.count == 1)
        #expect(frames.first?.payload.readableBytes == limit)
    }

    @Test("accepts exactly 16 MiB with the default limit")
    func defaultLimitExactly() throws {
        #expect(RelayFrameDecoder.defaultMaximumPayloadBytes == 16 << 20)
        let payload = [UInt8](repeating: 0, count: 16 << 20)
        let frames = try S.decodeAll(S.frameBytes(type: 4, payload: payload))
        #expect(frames.first?.payload.readableBytes == 16 << 20)
    }

    @Test("rejects limit + 1 from the header alone, before any payload byte")
    func payloadOverLimitFromHeaderOnly() throws {
        let limit = 1000
        var decoder = RelayFrameDecoder(maximumPayloadBytes: limit)
        var buffer = ByteBuffer(bytes: S.header(length: UInt32(limit + 1), type: 4))
        let error = #expect(throws: RelayProtocolError.self) {
            _ = try decoder.decode(buffer: &buffer)
        }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.announcedLength == limit + 1)
        #expect(error?.limit == limit)
        #expect(error?.frameType == .update)
        #expect(error?.relayErrorCode == .malformedFrame)
    }

    @Test("rejects an oversized length as soon as the 4 length bytes are in")
    func payloadOverLimitFromLengthOnly() throws {
        var decoder = RelayFrameDecoder()
        var buffer = ByteBuffer(bytes: Array(S.header(length: UInt32(16 << 20) + 1, type: 4).prefix(4)))
        let error = #expect(throws: RelayProtocolError.self) {
            _ = try decoder.decode(buffer: &buffer)
        }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.frameType == nil)
    }

    @Test("rejects a 100 MiB length prefix and a 4 GiB one with the default limit")
    func hugeLengthPrefixes() throws {
        for length in [UInt32(100 << 20), UInt32.max] {
            var decoder = RelayFrameDecoder()
            var buffer = ByteBuffer(bytes: S.header(length: length, type: 4))
            let error = #expect(throws: RelayProtocolError.self) {
                _ = try decoder.decode(buffer: &buffer)
            }
            #expect(error?.code == .frameTooLarge)
            #expect(error?.announcedLength == Int(length))
            #expect(error?.limit == 16 << 20)
        }
    }

    @Test("on a channel: limit + 1 is an error after 8 bytes, and maximumBufferSize is set")
    func channelRejectsOversizedHeader() throws {
        let decoder = RelayFrameDecoder(maximumPayloadBytes: 64)
        #expect(decoder.maximumBufferSize == 64 + 8)
        let channel = EmbeddedChannel(handler: decoder.makeHandler())
        let error = #expect(throws: RelayProtocolError.self) {
            try channel.writeInbound(ByteBuffer(bytes: S.header(length: 65, type: 4)))
        }
        #expect(error?.code == .frameTooLarge)
        #expect(try channel.readInbound(as: RelayFrame.self) == nil)
        _ = try? channel.finish()
    }

    @Test("the limit is clamped to 0...UInt32.max")
    func limitClamped() {
        #expect(RelayFrameDecoder(maximumPayloadBytes: -5).maximumPayloadBytes == 0)
        #expect(RelayFrameDecoder(maximumPayloadBytes: Int.max).maximumPayloadBytes == Int(UInt32.max))
        #expect(RelayFrameEncoder(maximumPayloadBytes: -5).maximumPayloadBytes == 0)
    }

    // MARK: Truncated input

    @Test("half a header: nothing emitted, no error until EOF, then truncated")
    func halfHeader() throws {
        let frame = S.frameBytes(type: 6, payload: [0x08, 0x07])
        var decoder = RelayFrameDecoder()
        var buffer = ByteBuffer(bytes: Array(frame.prefix(4)))
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: false) == nil)
        #expect(buffer.readableBytes == 4)
        let error = #expect(throws: RelayProtocolError.self) {
            _ = try decoder.decodeLast(buffer: &buffer, seenEOF: true)
        }
        #expect(error?.code == .truncated)
        #expect(error?.relayErrorCode == .malformedFrame)
    }

    @Test("header and half the payload: nothing emitted, no error until EOF, then truncated")
    func halfPayload() throws {
        let frame = S.frameBytes(type: 8, payload: [UInt8](repeating: 0x61, count: 20))
        var decoder = RelayFrameDecoder()
        var buffer = ByteBuffer(bytes: Array(frame.prefix(8 + 10)))
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 18)
        let error = #expect(throws: RelayProtocolError.self) {
            _ = try decoder.decodeLast(buffer: &buffer, seenEOF: true)
        }
        #expect(error?.code == .truncated)
        #expect(error?.frameType == .goodbye)
        #expect(error?.detail.contains("18 of 28") == true)
    }

    @Test("on a channel: a partial frame is held, and closing reports truncated")
    func channelTruncatedAtClose() throws {
        let channel = EmbeddedChannel(handler: RelayFrameDecoder().makeHandler())
        let frame = S.frameBytes(type: 6, payload: [0x08, 0x07])
        try channel.writeInbound(ByteBuffer(bytes: Array(frame.prefix(9))))
        #expect(try channel.readInbound(as: RelayFrame.self) == nil)
        let error = #expect(throws: RelayProtocolError.self) {
            _ = try channel.finish()
        }
        #expect(error?.code == .truncated)
    }

    @Test("on a channel: whole frames then a clean close")
    func channelCleanClose() throws {
        let channel = EmbeddedChannel(handler: RelayFrameDecoder().makeHandler())
        let bytes = S.frameBytes(type: 6, payload: [0x08, 0x07]) + S.frameBytes(type: 6, payload: [])
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        #expect(try channel.readInbound(as: RelayFrame.self)?.payload == ByteBuffer(bytes: [0x08, 0x07]))
        #expect(try channel.readInbound(as: RelayFrame.self)?.payload == ByteBuffer())
        #expect(try channel.finish().isClean)
    }

    // MARK: Garbage

    @Test("random bytes: frames or a typed error, never a crash (fixed seed)")
    func garbage() {
        var generator = SeededGenerator(seed: 0x6d65_7368_7265_6c61)
        var outcomes = (frames: 0, messages: 0, errors: 0)
        for round in 0..<2_000 {
            let count = Int.random(in: 0...96, using: &generator)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0, bytes.count >= 8 {
                // Plausible headers: a small length and a known type, so payloads reach protobuf.
                let length = UInt32(Int.random(in: 0...(bytes.count - 8), using: &generator))
                let type = UInt8.random(in: 0...9, using: &generator)
                bytes.replaceSubrange(0..<8, with: S.header(length: length, type: type, flags: bytes[5]))
            }
            do {
                for frame in try S.decodeAll(bytes, maximumPayloadBytes: 64) {
                    outcomes.frames += 1
                    if (try RelayMessageCoding.message(from: frame)) != nil {
                        outcomes.messages += 1
                    }
                }
            } catch {
                outcomes.errors += 1
            }
        }
        #expect(outcomes.frames > 0)
        #expect(outcomes.errors > 0)
    }
}
