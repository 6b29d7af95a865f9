public import NIOCore

/// One frame of the relay protocol: the 8-byte header's type and flags, and the payload.
///
/// On the wire (docs/protocol.md, "Frame layout"):
///
/// ```
///  0               1               2               3
/// +---------------+---------------+---------------+---------------+
/// |           payload length (UInt32, big-endian, header excluded) |
/// +---------------+---------------+---------------+---------------+
/// |  frame type   |     flags     |       reserved (0, ignored)   |
/// +---------------+---------------+---------------+---------------+
/// |  payload: one protobuf message of the type's schema ...
/// ```
///
/// The reserved bytes are not kept: the encoder writes zeros and the decoder ignores them.
public struct RelayFrame: Sendable, Hashable {
    /// The size of the frame header in bytes.
    public static let headerLength = 8

    /// Flag bit 0, IGNORABLE: a receiver that does not know the frame type skips the frame when
    /// set, and closes with ``RelayErrorCode/unsupportedMessage`` when not. The other bits are
    /// reserved: sent as 0, ignored on receipt.
    public static let ignorableFlag: UInt8 = 0b0000_0001

    /// The frame type (byte 4 of the header).
    public var type: FrameType
    /// The flags byte (byte 5 of the header), as received or to send.
    public var flags: UInt8
    /// The payload: the readable bytes of this buffer.
    public var payload: ByteBuffer

    /// Creates a frame.
    ///
    /// - Parameters:
    ///   - type: The frame type.
    ///   - flags: The flags byte; use ``ignorableFlag`` for a frame older peers may skip.
    ///   - payload: The payload bytes (the buffer's readable bytes).
    public init(type: FrameType, flags: UInt8 = 0, payload: ByteBuffer) {
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    /// Whether the IGNORABLE flag (bit 0) is set.
    public var isIgnorable: Bool {
        self.flags & Self.ignorableFlag != 0
    }
}

extension RelayFrame {
    /// Sets the 8 header bytes at `index` (which must be writable already).
    static func setHeader(type: FrameType, flags: UInt8, payloadLength: UInt32, in buffer: inout ByteBuffer, at index: Int) {
        buffer.setInteger(payloadLength, at: index, endianness: .big)
        buffer.setInteger(type.rawValue, at: index + 4)
        buffer.setInteger(flags, at: index + 5)
        buffer.setInteger(UInt16(0), at: index + 6)
    }

    /// Appends the 8 header bytes.
    static func writeHeader(type: FrameType, flags: UInt8, payloadLength: UInt32, to buffer: inout ByteBuffer) {
        buffer.writeInteger(payloadLength, endianness: .big)
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(flags)
        buffer.writeInteger(UInt16(0))
    }
}
