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

/// Writes ``RelayFrame``s like ``RelayFrameEncoder``, without copying the payload when it can:
///
/// - a frame made by ``RelayMessageCoding/frame(for:maximumPayloadBytes:)`` carries its header
///   in the same buffer, just before the payload: that buffer is written as it is (one buffer,
///   so one TLS record, and no copy);
/// - another frame with a large payload is written as a header buffer and the payload as it is;
/// - other small frames are copied whole into one buffer (a separate header would be its own
///   TLS record).
///
/// A 10,000-resource snapshot is 2.5 MB, encoded once and sent to every agent of a view: the
/// copy per session (with the page faults of a fresh 2.5 MB allocation) was a fifth of the
/// server's work in an initial sync of 100 agents.
public final class RelayFrameWriter: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = RelayFrame
    public typealias OutboundOut = ByteBuffer

    /// Payloads at least this large are written after a separate header rather than copied.
    public static let directPayloadBytes = 64 * 1024

    private let encoder: RelayFrameEncoder

    /// - Parameter maximumPayloadBytes: As ``RelayFrameEncoder/init(maximumPayloadBytes:)``.
    public init(maximumPayloadBytes: Int = RelayFrameDecoder.defaultMaximumPayloadBytes) {
        self.encoder = RelayFrameEncoder(maximumPayloadBytes: maximumPayloadBytes)
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = self.unwrapOutboundIn(data)
        let payloadLength = frame.payload.readableBytes
        do {
            guard payloadLength <= self.encoder.maximumPayloadBytes, let length = UInt32(exactly: payloadLength) else {
                throw RelayProtocolError.frameTooLarge(type: frame.type, announcedLength: payloadLength, limit: self.encoder.maximumPayloadBytes)
            }
            if let whole = Self.withHeaderInPlace(frame, length: length) {
                context.write(self.wrapOutboundOut(whole), promise: promise)
            } else if payloadLength >= Self.directPayloadBytes {
                var header = context.channel.allocator.buffer(capacity: RelayFrame.headerLength)
                RelayFrame.writeHeader(type: frame.type, flags: frame.flags, payloadLength: length, to: &header)
                context.write(self.wrapOutboundOut(header), promise: nil)
                context.write(self.wrapOutboundOut(frame.payload), promise: promise)
            } else {
                var buffer = context.channel.allocator.buffer(capacity: RelayFrame.headerLength + payloadLength)
                try self.encoder.encode(data: frame, out: &buffer)
                context.write(self.wrapOutboundOut(buffer), promise: promise)
            }
        } catch {
            // As MessageToByteHandler: the write fails and the pipeline hears of it.
            promise?.fail(error)
            context.fireErrorCaught(error)
        }
    }

    /// The frame's buffer from its header on, when the bytes before the payload are exactly the
    /// header this frame needs.
    static func withHeaderInPlace(_ frame: RelayFrame, length: UInt32) -> ByteBuffer? {
        let start = frame.payload.readerIndex - RelayFrame.headerLength
        guard start >= 0 else { return nil }
        var whole = frame.payload
        whole.moveReaderIndex(to: start)
        guard whole.getInteger(at: start, endianness: .big, as: UInt32.self) == length,
            whole.getInteger(at: start + 4, as: UInt8.self) == frame.type.rawValue,
            whole.getInteger(at: start + 5, as: UInt8.self) == frame.flags,
            whole.getInteger(at: start + 6, as: UInt16.self) == 0
        else { return nil }
        return whole
    }
}
