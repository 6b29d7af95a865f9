public import NIOCore

/// Writes ``RelayFrame``s as header + payload (docs/protocol.md, "Frame layout").
///
/// The reserved header bytes are written as 0; the flags byte is written as given. A payload
/// larger than ``maximumPayloadBytes`` throws ``RelayProtocolError/Code/frameTooLarge`` instead of
/// sending a frame the peer would refuse.
///
/// To send the same bytes to many sessions (one snapshot, many agents), encode once with
/// ``RelayMessageCoding/encodedFrame(for:maximumPayloadBytes:)`` and write that buffer.
public struct RelayFrameEncoder: MessageToByteEncoder, Sendable {
    /// The frame to encode.
    public typealias OutboundIn = RelayFrame

    /// The largest payload sent, in bytes.
    public let maximumPayloadBytes: Int

    /// Creates an encoder.
    ///
    /// - Parameters:
    ///   - maximumPayloadBytes: The largest payload sent, in bytes; clamped to `0...UInt32.max`.
    ///     Defaults to ``RelayFrameDecoder/defaultMaximumPayloadBytes``, the peer's default limit.
    public init(maximumPayloadBytes: Int = RelayFrameDecoder.defaultMaximumPayloadBytes) {
        self.maximumPayloadBytes = min(max(maximumPayloadBytes, 0), Int(UInt32.max))
    }

    /// Appends the frame's header and payload to `out`.
    ///
    /// - Parameters:
    ///   - data: The frame.
    ///   - out: The buffer to append to.
    /// - Throws: ``RelayProtocolError`` with ``RelayProtocolError/Code/frameTooLarge`` when the
    ///   payload exceeds ``maximumPayloadBytes``.
    public func encode(data: RelayFrame, out: inout ByteBuffer) throws(RelayProtocolError) {
        let payloadLength = data.payload.readableBytes
        guard payloadLength <= self.maximumPayloadBytes, let length = UInt32(exactly: payloadLength) else {
            throw .frameTooLarge(type: data.type, announcedLength: payloadLength, limit: self.maximumPayloadBytes)
        }
        out.reserveCapacity(minimumWritableBytes: RelayFrame.headerLength + payloadLength)
        RelayFrame.writeHeader(type: data.type, flags: data.flags, payloadLength: length, to: &out)
        out.writeImmutableBuffer(data.payload)
    }
}
