import NIOCore
import SwiftProtobuf

/// A protobuf serialization target that is a whole frame: SwiftProtobuf sizes the message, asks
/// for a buffer of that size and writes into it; this type allocates the frame's 8 header bytes in
/// front of it, so the payload is serialized in place, straight into the `ByteBuffer` that goes on
/// the wire (no intermediate `[UInt8]`/`Data` and no copy into a frame buffer).
///
/// Only the payload region (after the header) is visible through the protocol's requirements.
struct FrameByteBuffer: SwiftProtobufContiguousBytes {
    /// Header (8 bytes, zero until ``RelayFrame/setHeader(type:flags:payloadLength:in:at:)``) and
    /// payload, as readable bytes.
    var buffer: ByteBuffer

    init(repeating: UInt8, count: Int) {
        var buffer = ByteBufferAllocator().buffer(capacity: RelayFrame.headerLength + count)
        buffer.writeRepeatingByte(0, count: RelayFrame.headerLength)
        buffer.writeRepeatingByte(repeating, count: count)
        self.buffer = buffer
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        var buffer = ByteBufferAllocator().buffer(capacity: RelayFrame.headerLength + sequence.underestimatedCount)
        buffer.writeRepeatingByte(0, count: RelayFrame.headerLength)
        buffer.writeBytes(sequence)
        self.buffer = buffer
    }

    var count: Int {
        self.buffer.readableBytes - RelayFrame.headerLength
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try self.buffer.withUnsafeReadableBytes { bytes in
            try body(UnsafeRawBufferPointer(rebasing: bytes[RelayFrame.headerLength...]))
        }
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try self.buffer.withUnsafeMutableReadableBytes { bytes in
            try body(UnsafeMutableRawBufferPointer(rebasing: bytes[RelayFrame.headerLength...]))
        }
    }
}
