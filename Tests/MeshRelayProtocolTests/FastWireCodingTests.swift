import Foundation
import MeshRelayTesting
import NIOCore
import SwiftProtobuf
import Testing

@testable import MeshRelayProtocol

/// The hand-written UPDATE/ACK coding against SwiftProtobuf: the fast decoders agree on every
/// valid message and never accept bytes SwiftProtobuf refuses or reads differently (checked on
/// thousands of mutated encodings), and the ACK encoder writes SwiftProtobuf's bytes.
@Suite("FastWireCoding")
struct FastWireCodingTests {
    // MARK: Strings

    /// The ASCII fast path and the validating path agree with `String(validating:)` on ASCII of
    /// every length around the 8-byte step, on valid multi-byte text with the first non-ASCII byte
    /// in either part, and on invalid bytes (refused) anywhere.
    @Test func stringsAreDecodedExactlyAsValidatingUTF8Would() {
        var cases: [[UInt8]] = (0...20).map { Array(repeating: UInt8(ascii: "a"), count: $0) }
        for position in [0, 3, 7, 8, 9, 15, 16, 17] {
            let prefix = Array(repeating: UInt8(ascii: "x"), count: position)
            cases.append(prefix + Array("é中🙂".utf8) + [UInt8(ascii: "z")])
            cases.append(prefix + [0xFF] + [UInt8(ascii: "z")])
            cases.append(prefix + [0xC3])  // a two-byte sequence cut short
            cases.append(prefix + [0xED, 0xA0, 0x80])  // an encoded surrogate
        }
        for bytes in cases {
            let padded = [0x01, 0x02] + bytes + [0x03]
            padded.withUnsafeBytes { raw in
                let expected = String(validating: bytes, as: UTF8.self)
                #expect(FastWireCoding.string(raw, 2..<(2 + bytes.count)) == expected, "\(bytes)")
            }
        }
    }

    // MARK: Generators

    static func text(_ random: inout SeededGenerator, allowEmpty: Bool = false) -> String {
        let alphabet = Array("abcxyz-.0129/éß中🙂")
        let count = Int.random(in: (allowEmpty ? 0 : 1)...12, using: &random)
        return String((0..<count).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &random)] })
    }

    static func key(_ random: inout SeededGenerator) -> RelayResourceKey {
        RelayResourceKey(kind: text(&random), namespace: text(&random, allowEmpty: true), name: text(&random))
    }

    static func update(_ random: inout SeededGenerator) -> Update {
        let upserts = (0..<Int.random(in: 0...6, using: &random)).map { _ in
            RelayResource(
                key: key(&random),
                version: Int64.random(in: 0...Int64.max, using: &random) >> Int64.random(in: 0...62, using: &random),
                generation: Int64.random(in: 0...1_000, using: &random),
                labels: Dictionary((0..<Int.random(in: 0...3, using: &random)).map { _ in (text(&random), text(&random, allowEmpty: true)) }) { _, last in last },
                specJSON: Array(text(&random, allowEmpty: true).utf8),
                creationTimestamp: Bool.random(using: &random) ? "2026-12-01T05:00:00Z" : ""
            )
        }
        return Update(
            revision: Int64.random(in: 0...1_000_000, using: &random), isSnapshot: Bool.random(using: &random), upserts: upserts,
            removals: (0..<Int.random(in: 0...3, using: &random)).map { _ in key(&random) }
        )
    }

    static func ack(_ random: inout SeededGenerator) -> Ack {
        let states: [ResourceResult.State] = [.applied, .failed, .warning]
        return Ack(
            revision: Int64.random(in: 0...1_000_000, using: &random),
            results: (0..<Int.random(in: 0...6, using: &random)).map { _ in
                ResourceResult(
                    key: key(&random), version: Int64.random(in: 0...5_000, using: &random),
                    state: states[Int.random(in: 0..<3, using: &random)], message: text(&random, allowEmpty: true)
                )
            }
        )
    }

    /// The payload of `message` as SwiftProtobuf writes it.
    static func protobufPayload(_ message: RelayMessage) throws -> [UInt8] {
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        switch message {
        case .update(let update): return try Meshrelay_Relay_V1_Update(update).serializedBytes(options: options)
        case .ack(let ack): return try Meshrelay_Relay_V1_Ack(ack).serializedBytes(options: options)
        default: return []
        }
    }

    static let options: BinaryDecodingOptions = {
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        return options
    }()

    /// SwiftProtobuf's reading of an UPDATE payload (`nil` where it refuses).
    static func slowUpdate(_ bytes: [UInt8]) -> Update? {
        guard let proto = try? Meshrelay_Relay_V1_Update(serializedBytes: bytes, options: options) else { return nil }
        return try? Update(proto)
    }

    static func slowAck(_ bytes: [UInt8]) -> Ack? {
        guard let proto = try? Meshrelay_Relay_V1_Ack(serializedBytes: bytes, options: options) else { return nil }
        return try? Ack(proto)
    }

    /// A few random edits of `bytes`: flipped bits, truncation, inserted and removed bytes.
    static func mutated(_ bytes: [UInt8], _ random: inout SeededGenerator) -> [UInt8] {
        var result = bytes
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            switch Int.random(in: 0..<4, using: &random) {
            case 0 where !result.isEmpty:
                result[Int.random(in: 0..<result.count, using: &random)] ^= UInt8(1) << UInt8.random(in: 0...7, using: &random)
            case 1 where !result.isEmpty:
                result.removeLast(Int.random(in: 1...min(4, result.count), using: &random))
            case 2:
                result.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...result.count, using: &random))
            case 3 where !result.isEmpty:
                result.remove(at: Int.random(in: 0..<result.count, using: &random))
            default:
                result.append(UInt8.random(in: 0...255, using: &random))
            }
        }
        return result
    }

    // MARK: Agreement

    @Test func validUpdatesDecodeAsSwiftProtobufDecodesThem() throws {
        var random = SeededGenerator(seed: 9)
        for _ in 0..<500 {
            let update = Self.update(&random)
            let bytes = try Self.protobufPayload(.update(update))
            let fast = FastWireCoding.update(ByteBuffer(bytes: bytes))
            #expect(fast == update)
            #expect(fast == Self.slowUpdate(bytes))
        }
    }

    @Test func validAcksDecodeAsSwiftProtobufDecodesThem() throws {
        var random = SeededGenerator(seed: 10)
        for _ in 0..<500 {
            let ack = Self.ack(&random)
            let bytes = try Self.protobufPayload(.ack(ack))
            #expect(FastWireCoding.ack(ByteBuffer(bytes: bytes)) == ack)
        }
    }

    @Test func mutatedUpdatesAreNeverReadDifferently() throws {
        var random = SeededGenerator(seed: 11)
        var accepted = 0
        var declined = 0
        for _ in 0..<3_000 {
            let bytes = Self.mutated(try Self.protobufPayload(.update(Self.update(&random))), &random)
            guard let fast = FastWireCoding.update(ByteBuffer(bytes: bytes)) else {
                declined += 1
                continue
            }
            accepted += 1
            #expect(Self.slowUpdate(bytes) == fast, "\(CodecTestSupport.hex(bytes))")
        }
        // Both paths were exercised.
        #expect(accepted > 100)
        #expect(declined > 100)
    }

    @Test func mutatedAcksAreNeverReadDifferently() throws {
        var random = SeededGenerator(seed: 12)
        var accepted = 0
        var declined = 0
        for _ in 0..<3_000 {
            let bytes = Self.mutated(try Self.protobufPayload(.ack(Self.ack(&random))), &random)
            guard let fast = FastWireCoding.ack(ByteBuffer(bytes: bytes)) else {
                declined += 1
                continue
            }
            accepted += 1
            #expect(Self.slowAck(bytes) == fast, "\(CodecTestSupport.hex(bytes))")
        }
        #expect(accepted > 100)
        #expect(declined > 100)
    }

    @Test func theAckEncoderWritesSwiftProtobufsBytes() throws {
        var random = SeededGenerator(seed: 13)
        for _ in 0..<500 {
            let ack = Self.ack(&random)
            var frame = try FastWireCoding.ackFrame(ack, maximumPayloadBytes: 1 << 20)
            let header = frame.readSlice(length: RelayFrame.headerLength)
            #expect(Array(frame.readableBytesView) == (try Self.protobufPayload(.ack(ack))))
            #expect(header?.getInteger(at: 0, as: UInt32.self) == UInt32(frame.readableBytes))
            #expect(header?.getInteger(at: 4, as: UInt8.self) == FrameType.ack.rawValue)
        }
    }

    @Test func theUpdateEncoderWritesSwiftProtobufsDeterministicBytes() throws {
        var random = SeededGenerator(seed: 14)
        for _ in 0..<500 {
            let update = Self.update(&random)
            var frame = try FastWireCoding.updateFrame(update, maximumPayloadBytes: 1 << 20)
            let header = frame.readSlice(length: RelayFrame.headerLength)
            #expect(Array(frame.readableBytesView) == (try Self.protobufPayload(.update(update))), "\(update)")
            #expect(header?.getInteger(at: 0, as: UInt32.self) == UInt32(frame.readableBytes))
            #expect(header?.getInteger(at: 4, as: UInt8.self) == FrameType.update.rawValue)
            #expect(Self.slowUpdate(Array(frame.readableBytesView)) == update)
        }
    }

    @Test func anUpdateOverTheLimitIsRefused() {
        let resource = RelayResource(
            key: RelayResourceKey(kind: "K", namespace: "", name: "n"), version: 1, generation: 1, labels: [:], specJSON: Array(repeating: 0x20, count: 100)
        )
        #expect(throws: RelayProtocolError.self) {
            try FastWireCoding.updateFrame(Update(revision: 1, isSnapshot: false, upserts: [resource], removals: []), maximumPayloadBytes: 50)
        }
    }

    @Test func anAckOverTheLimitIsRefused() {
        let ack = Ack(revision: 1, results: [ResourceResult(key: RelayResourceKey(kind: "K", namespace: "", name: "n"), version: 1, state: .applied, message: String(repeating: "x", count: 100))])
        #expect(throws: RelayProtocolError.self) { try FastWireCoding.ackFrame(ack, maximumPayloadBytes: 50) }
    }

    // MARK: What the fast path leaves to SwiftProtobuf

    /// A resource whose key field appears twice: protobuf merges the two keys; the fast path
    /// declines and the message decodes as SwiftProtobuf reads it.
    @Test func aRepeatedKeyFieldIsMergedBySwiftProtobuf() throws {
        // Resource { key { kind "K" name "a" } key { namespace "ns" } version 1 }
        let resource: [UInt8] = [0x0A, 0x06, 0x0A, 0x01, 0x4B, 0x1A, 0x01, 0x61, 0x0A, 0x04, 0x12, 0x02, 0x6E, 0x73, 0x10, 0x01]
        let update: [UInt8] = [0x08, 0x05, 0x1A, UInt8(resource.count)] + resource
        #expect(FastWireCoding.update(ByteBuffer(bytes: update)) == nil)
        let message = try RelayMessageCoding.message(from: RelayFrame(type: .update, payload: ByteBuffer(bytes: update)))
        guard case .update(let decoded) = message else {
            Issue.record("an UPDATE")
            return
        }
        #expect(decoded.upserts.map(\.key) == [RelayResourceKey(kind: "K", namespace: "ns", name: "a")])
    }

    @Test func unknownFieldsAreSkippedAndGroupsDeclined() throws {
        // ACK { revision 3, field 9 varint 7, field 10 bytes "zz", field 11 fixed32 }
        let withUnknown: [UInt8] = [0x08, 0x03, 0x48, 0x07, 0x52, 0x02, 0x7A, 0x7A, 0x5D, 1, 2, 3, 4]
        #expect(FastWireCoding.ack(ByteBuffer(bytes: withUnknown)) == Ack(revision: 3, results: []))
        #expect(Self.slowAck(withUnknown) == Ack(revision: 3, results: []))
        // A start-group tag (wire type 3).
        #expect(FastWireCoding.ack(ByteBuffer(bytes: [0x08, 0x03, 0x4B, 0x4C])) == nil)
    }

    @Test func invalidUTF8AndBadValuesAreLeftToSwiftProtobufsErrors() throws {
        // ResourceResult { key { kind 0xFF name "a" } version 1 state 1 }
        let result: [UInt8] = [0x0A, 0x06, 0x0A, 0x01, 0xFF, 0x1A, 0x01, 0x61, 0x10, 0x01, 0x18, 0x01]
        let ack: [UInt8] = [0x08, 0x01, 0x12, UInt8(result.count)] + result
        #expect(FastWireCoding.ack(ByteBuffer(bytes: ack)) == nil)
        #expect(throws: RelayProtocolError.self) { try RelayMessageCoding.message(from: RelayFrame(type: .ack, payload: ByteBuffer(bytes: ack))) }

        // state 0 (unspecified): the error names the field.
        let unspecified: [UInt8] = [0x0A, 0x06, 0x0A, 0x01, 0x4B, 0x1A, 0x01, 0x61, 0x10, 0x01]
        let ack0: [UInt8] = [0x08, 0x01, 0x12, UInt8(unspecified.count)] + unspecified
        #expect(FastWireCoding.ack(ByteBuffer(bytes: ack0)) == nil)
        do {
            _ = try RelayMessageCoding.message(from: RelayFrame(type: .ack, payload: ByteBuffer(bytes: ack0)))
            Issue.record("state 0 is refused")
        } catch {
            #expect(error.description.contains("results[0].state"))
        }
    }
}
