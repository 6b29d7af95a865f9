public import NIOCore
import SwiftProtobuf

/// Converts between ``RelayMessage`` values and ``RelayFrame``s (protobuf payloads of
/// Sources/MeshRelayProtocol/Proto/relay.proto; docs/protocol.md, "Messages" and
/// "Compatibility rules").
public enum RelayMessageCoding {
    /// Encodes a message as a frame (flags 0).
    ///
    /// The payload is serialized once, in place, into a buffer that also holds the frame header:
    /// ``RelayFrameWriter`` then writes that buffer as it is (``RelayFrameEncoder`` copies it).
    ///
    /// - Parameters:
    ///   - message: The message.
    ///   - maximumPayloadBytes: The receiver's limit; defaults to
    ///     ``RelayFrameDecoder/defaultMaximumPayloadBytes``.
    /// - Returns: The frame.
    /// - Throws: ``RelayProtocolError`` with ``RelayProtocolError/Code/frameTooLarge`` when the
    ///   payload exceeds `maximumPayloadBytes`, or ``RelayProtocolError/Code/encodingFailed``.
    public static func frame(
        for message: RelayMessage,
        maximumPayloadBytes: Int = RelayFrameDecoder.defaultMaximumPayloadBytes
    ) throws(RelayProtocolError) -> RelayFrame {
        var payload = try self.encodedFrame(for: message, maximumPayloadBytes: maximumPayloadBytes)
        payload.moveReaderIndex(forwardBy: RelayFrame.headerLength)
        return RelayFrame(type: message.frameType, flags: 0, payload: payload)
    }

    /// Encodes a message as the complete bytes of one frame (header + payload), ready to write to
    /// a connection below the frame encoder.
    ///
    /// `ByteBuffer` is copy-on-write: one encoded UPDATE can be written to many sessions without
    /// copying it.
    ///
    /// - Parameters:
    ///   - message: The message.
    ///   - maximumPayloadBytes: The receiver's limit; defaults to
    ///     ``RelayFrameDecoder/defaultMaximumPayloadBytes``.
    /// - Returns: A buffer whose readable bytes are the frame.
    /// - Throws: ``RelayProtocolError`` with ``RelayProtocolError/Code/frameTooLarge`` when the
    ///   payload exceeds `maximumPayloadBytes`, or ``RelayProtocolError/Code/encodingFailed``.
    public static func encodedFrame(
        for message: RelayMessage,
        maximumPayloadBytes: Int = RelayFrameDecoder.defaultMaximumPayloadBytes
    ) throws(RelayProtocolError) -> ByteBuffer {
        let type = message.frameType
        if case .ack(let ack) = message {
            return try FastWireCoding.ackFrame(ack, maximumPayloadBytes: maximumPayloadBytes)
        }
        if case .update(let update) = message {
            return try FastWireCoding.updateFrame(update, maximumPayloadBytes: maximumPayloadBytes)
        }
        var frame: FrameByteBuffer
        do {
            switch message {
            case .hello(let hello): frame = try Meshrelay_Relay_V1_Hello(hello).serializedFrame()
            case .welcome(let welcome): frame = try Meshrelay_Relay_V1_Welcome(welcome).serializedFrame()
            case .refuse(let refuse): frame = try Meshrelay_Relay_V1_Refuse(refuse).serializedFrame()
            case .update(let update): frame = try Meshrelay_Relay_V1_Update(update).serializedFrame()
            case .ack(let ack): frame = try Meshrelay_Relay_V1_Ack(ack).serializedFrame()
            case .heartbeat(let heartbeat): frame = try Meshrelay_Relay_V1_Heartbeat(heartbeat).serializedFrame()
            case .drain(let drain): frame = try Meshrelay_Relay_V1_Drain(drain).serializedFrame()
            case .goodbye(let goodbye): frame = try Meshrelay_Relay_V1_Goodbye(goodbye).serializedFrame()
            }
        } catch {
            // SwiftProtobuf refuses messages of 2 GiB or more (reported as missingRequiredFields).
            throw RelayProtocolError(code: .encodingFailed, frameType: type, detail: "protobuf: \(error)")
        }
        let payloadLength = frame.count
        guard payloadLength <= maximumPayloadBytes, let length = UInt32(exactly: payloadLength) else {
            throw .frameTooLarge(type: type, announcedLength: payloadLength, limit: maximumPayloadBytes)
        }
        RelayFrame.setHeader(type: type, flags: 0, payloadLength: length, in: &frame.buffer, at: frame.buffer.readerIndex)
        return frame.buffer
    }

    /// Decodes a frame's payload.
    ///
    /// Unknown protobuf fields are skipped. Reserved flag bits are ignored. A payload that decodes
    /// must also satisfy the rules of docs/protocol.md, "Messages" (e.g. a HELLO lists at least one
    /// protocol version; a resource key has a kind and a name).
    ///
    /// - Parameters:
    ///   - frame: The frame.
    /// - Returns: The message, or `nil` for a frame of an unknown type with the IGNORABLE flag,
    ///   which the receiver skips.
    /// - Throws: ``RelayProtocolError`` with ``RelayProtocolError/Code/unsupportedMessage`` for an
    ///   unknown type without the IGNORABLE flag, or ``RelayProtocolError/Code/malformedPayload``.
    public static func message(from frame: RelayFrame) throws(RelayProtocolError) -> RelayMessage? {
        let type = frame.type
        switch type {
        case .hello: return .hello(try Hello(try decode(Meshrelay_Relay_V1_Hello.self, frame)))
        case .welcome: return .welcome(try Welcome(try decode(Meshrelay_Relay_V1_Welcome.self, frame)))
        case .refuse: return .refuse(try Refuse(try decode(Meshrelay_Relay_V1_Refuse.self, frame)))
        case .update:
            if let update = FastWireCoding.update(frame.payload) { return .update(update) }
            return .update(try Update(try decode(Meshrelay_Relay_V1_Update.self, frame)))
        case .ack:
            if let ack = FastWireCoding.ack(frame.payload) { return .ack(ack) }
            return .ack(try Ack(try decode(Meshrelay_Relay_V1_Ack.self, frame)))
        case .heartbeat: return .heartbeat(Heartbeat(try decode(Meshrelay_Relay_V1_Heartbeat.self, frame)))
        case .drain: return .drain(Drain(try decode(Meshrelay_Relay_V1_Drain.self, frame)))
        case .goodbye: return .goodbye(try Goodbye(try decode(Meshrelay_Relay_V1_Goodbye.self, frame)))
        default:
            if frame.isIgnorable {
                return nil
            }
            throw RelayProtocolError(
                code: .unsupportedMessage,
                frameType: type,
                detail: "unknown frame type \(type.rawValue) without the IGNORABLE flag"
            )
        }
    }

    private static let decodingOptions: BinaryDecodingOptions = {
        var options = BinaryDecodingOptions()
        // The fields are converted to RelayMessage anyway; do not keep a newer peer's extras.
        options.discardUnknownFields = true
        return options
    }()

    private static func decode<M: SwiftProtobuf.Message>(_: M.Type, _ frame: RelayFrame) throws(RelayProtocolError) -> M {
        do {
            return try M(serializedBytes: frame.payload.readableBytesSpan, options: self.decodingOptions)
        } catch {
            throw .malformedPayload(frame.type, "protobuf: \(error)")
        }
    }
}

extension SwiftProtobuf.Message {
    fileprivate func serializedFrame() throws -> FrameByteBuffer {
        var options = BinaryEncodingOptions()
        // Map entries (labels) sorted by key: the same message always gives the same bytes.
        options.useDeterministicOrdering = true
        return try self.serializedBytes(options: options)
    }
}
