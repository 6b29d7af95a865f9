public import NIOCore

/// Splits a byte stream into ``RelayFrame``s (docs/protocol.md, "Frame layout" and "Limits").
///
/// The payload length is checked against ``maximumPayloadBytes`` as soon as the 4 length bytes
/// are in, before any of the payload is buffered: an oversized frame throws
/// ``RelayProtocolError/Code/frameTooLarge`` however little of it has arrived. Install it with
/// ``makeHandler()``, which also sets `ByteToMessageHandler`'s `maximumBufferSize` as a second
/// guard.
///
/// The decoder does not interpret frame types or payloads: unknown types and reserved bits are
/// passed on as received (``RelayMessageCoding/message(from:)`` applies the rules).
public struct RelayFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    /// The decoded frame.
    public typealias InboundOut = RelayFrame

    /// The default maximum payload size: 16 MiB (docs/protocol.md, "Limits"). An UPDATE of
    /// 10,000 ExternalServices is about 4 MiB.
    public static let defaultMaximumPayloadBytes = 16 << 20

    /// The largest payload accepted, in bytes (header excluded).
    public let maximumPayloadBytes: Int

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - maximumPayloadBytes: The largest payload accepted, in bytes; clamped to
    ///     `0...UInt32.max`. Defaults to ``defaultMaximumPayloadBytes``.
    public init(maximumPayloadBytes: Int = Self.defaultMaximumPayloadBytes) {
        self.maximumPayloadBytes = min(max(maximumPayloadBytes, 0), Int(UInt32.max))
    }

    /// The bound for `ByteToMessageHandler(_:maximumBufferSize:)`: one header plus the largest
    /// payload. While the decoder waits for more data its buffer holds less than one whole frame,
    /// so a valid stream never reaches this bound; it backs up the length check.
    public var maximumBufferSize: Int {
        self.maximumPayloadBytes + RelayFrame.headerLength
    }

    /// Returns a `ByteToMessageHandler` running this decoder with
    /// `maximumBufferSize:` set to ``maximumBufferSize``.
    ///
    /// - Returns: A new handler (single use: one per channel).
    public func makeHandler() -> ByteToMessageHandler<RelayFrameDecoder> {
        ByteToMessageHandler(self, maximumBufferSize: self.maximumBufferSize)
    }

    /// Decodes the next frame if it is complete.
    ///
    /// - Parameters:
    ///   - buffer: The buffered bytes; a decoded frame's bytes are consumed.
    /// - Returns: The next frame, or `nil` when more bytes are needed.
    /// - Throws: ``RelayProtocolError`` with ``RelayProtocolError/Code/frameTooLarge`` when the
    ///   length field exceeds ``maximumPayloadBytes``.
    public mutating func decode(buffer: inout ByteBuffer) throws(RelayProtocolError) -> RelayFrame? {
        let start = buffer.readerIndex
        guard let length = buffer.getInteger(at: start, endianness: .big, as: UInt32.self) else {
            return nil
        }
        let payloadLength = Int(length)
        guard payloadLength <= self.maximumPayloadBytes else {
            let type = buffer.getInteger(at: start + 4, as: UInt8.self).map(FrameType.init(rawValue:))
            throw .frameTooLarge(type: type, announcedLength: payloadLength, limit: self.maximumPayloadBytes)
        }
        guard buffer.readableBytes >= RelayFrame.headerLength + payloadLength,
            let type = buffer.getInteger(at: start + 4, as: UInt8.self),
            let flags = buffer.getInteger(at: start + 5, as: UInt8.self),
            let payload = buffer.getSlice(at: start + RelayFrame.headerLength, length: payloadLength)
        else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: RelayFrame.headerLength + payloadLength)
        return RelayFrame(type: FrameType(rawValue: type), flags: flags, payload: payload)
    }

    /// Decodes the frames left when the stream ends.
    ///
    /// - Parameters:
    ///   - buffer: The buffered bytes.
    ///   - seenEOF: Whether the peer closed its side.
    /// - Returns: The next complete frame, or `nil` when none is left.
    /// - Throws: ``RelayProtocolError`` with ``RelayProtocolError/Code/truncated`` when the stream
    ///   ended (`seenEOF`) inside a frame, and the errors of ``decode(buffer:)``.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(RelayProtocolError) -> RelayFrame? {
        if let frame = try self.decode(buffer: &buffer) {
            return frame
        }
        if seenEOF, buffer.readableBytes > 0 {
            let leftover = buffer.readableBytes
            let type = buffer.getInteger(at: buffer.readerIndex + 4, as: UInt8.self).map(FrameType.init(rawValue:))
            let announced = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self)
            buffer.moveReaderIndex(forwardBy: leftover)
            let expected = announced.map { " of \(Int($0) + RelayFrame.headerLength)" } ?? ""
            throw RelayProtocolError(
                code: .truncated,
                frameType: type,
                detail: "stream ended after \(leftover)\(expected) bytes of a frame"
            )
        }
        return nil
    }
}
