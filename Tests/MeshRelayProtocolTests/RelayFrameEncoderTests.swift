import MeshRelayProtocol
import NIOCore
import NIOEmbedded
import Testing

@Suite("RelayFrameEncoder")
struct RelayFrameEncoderTests {
    @Test("writes length, type, flags as given, zero reserved bytes, then the payload")
    func headerBytes() throws {
        var out = ByteBuffer()
        let frame = RelayFrame(type: FrameType(rawValue: 0x2a), flags: RelayFrame.ignorableFlag, payload: ByteBuffer(bytes: [0xaa, 0xbb, 0xcc]))
        try RelayFrameEncoder().encode(data: frame, out: &out)
        #expect(CodecTestSupport.hex(out) == "00000003" + "2a" + "01" + "0000" + "aabbcc")
    }

    @Test("an empty payload is a bare header")
    func emptyPayload() throws {
        var out = ByteBuffer()
        try RelayFrameEncoder().encode(data: RelayFrame(type: .heartbeat, payload: ByteBuffer()), out: &out)
        #expect(CodecTestSupport.hex(out) == "0000000006000000")
    }

    @Test("through MessageToByteHandler: the same bytes as encodedFrame(for:)", arguments: Fixtures.everyMessage)
    func matchesEncodedFrame(message: RelayMessage) throws {
        let channel = EmbeddedChannel(handler: MessageToByteHandler(RelayFrameEncoder()))
        try channel.writeOutbound(try RelayMessageCoding.frame(for: message))
        let written = try channel.readOutbound(as: ByteBuffer.self)
        #expect(written == (try RelayMessageCoding.encodedFrame(for: message)))
        #expect(try channel.finish().isClean)
    }

    @Test("a payload at the limit is written; limit + 1 is frameTooLarge and nothing is written")
    func limit() throws {
        let encoder = RelayFrameEncoder(maximumPayloadBytes: 16)
        var out = ByteBuffer()
        try encoder.encode(data: RelayFrame(type: .update, payload: ByteBuffer(repeating: 1, count: 16)), out: &out)
        #expect(out.readableBytes == 8 + 16)

        out.clear()
        let error = #expect(throws: RelayProtocolError.self) {
            try encoder.encode(data: RelayFrame(type: .update, payload: ByteBuffer(repeating: 1, count: 17)), out: &out)
        }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.announcedLength == 17)
        #expect(error?.limit == 16)
        #expect(out.readableBytes == 0)
    }
}
