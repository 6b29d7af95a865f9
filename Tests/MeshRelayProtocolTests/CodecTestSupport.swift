import MeshRelayTesting
import MeshRelayProtocol
import NIOCore

/// Helpers shared by the codec tests (frames, hex, a seeded generator).
enum CodecTestSupport {
    /// Lowercase hex of the buffer's readable bytes, no separators.
    static func hex(_ buffer: ByteBuffer) -> String {
        hex(Array(buffer.readableBytesView))
    }

    /// Lowercase hex of the bytes, no separators.
    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }

    /// Bytes of a hex string; spaces and newlines are ignored. `nil` if not valid hex.
    static func bytes(hex: String) -> [UInt8]? {
        let digits = hex.filter { !$0.isWhitespace }
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }

    /// A buffer holding the bytes.
    static func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }

    /// The 8 header bytes of a frame announcing `length` payload bytes.
    static func header(length: UInt32, type: UInt8, flags: UInt8 = 0, reserved: UInt16 = 0) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(length, endianness: .big)
        buffer.writeInteger(type)
        buffer.writeInteger(flags)
        buffer.writeInteger(reserved, endianness: .big)
        return Array(buffer.readableBytesView)
    }

    /// A whole frame: header for `payload.count`, then the payload.
    static func frameBytes(type: UInt8, flags: UInt8 = 0, reserved: UInt16 = 0, payload: [UInt8]) -> [UInt8] {
        header(length: UInt32(payload.count), type: type, flags: flags, reserved: reserved) + payload
    }

    /// Runs the decoder over `input` as one chunk, then to EOF, collecting frames.
    static func decodeAll(
        _ input: [UInt8],
        maximumPayloadBytes: Int = RelayFrameDecoder.defaultMaximumPayloadBytes
    ) throws -> [RelayFrame] {
        var decoder = RelayFrameDecoder(maximumPayloadBytes: maximumPayloadBytes)
        var buffer = ByteBuffer(bytes: input)
        var frames: [RelayFrame] = []
        while let frame = try decoder.decode(buffer: &buffer) {
            frames.append(frame)
        }
        while let frame = try decoder.decodeLast(buffer: &buffer, seenEOF: true) {
            frames.append(frame)
        }
        return frames
    }
}


/// Sample messages with non-trivial content.
enum Fixtures {
    /// A spec of about 210 bytes of canonical JSON, like an ExternalService's.
    static func specJSON(_ index: Int) -> [UInt8] {
        Array(
            (#"{"hosts":["api-\#(index).example.com","api-\#(index).example.net"],"# + #""ports":[{"name":"http","number":80,"protocol":"HTTP"},"#
                + #"{"name":"https","number":443,"protocol":"HTTPS"}],"resolution":"DNS","selector":{"team":"payments"}}"#).utf8
        )
    }

    static func resource(_ index: Int) -> RelayResource {
        RelayResource(
            key: RelayResourceKey(kind: "ExternalService", namespace: "ns-\(index % 20)", name: "svc-\(index)"),
            version: Int64(1_000 + index),
            generation: Int64(1 + index % 3),
            labels: ["team": "team-\(index % 7)", "app": "svc-\(index)"],
            specJSON: specJSON(index)
        )
    }

    static func update(count: Int) -> Update {
        Update(
            revision: Int64(count + 1),
            isSnapshot: true,
            upserts: (0..<count).map(resource),
            removals: []
        )
    }

    static let key = RelayResourceKey(kind: "ExternalService", namespace: "payments", name: "stripe")

    /// One message of each type with every field set to something non-default.
    static let everyMessage: [RelayMessage] = [
        .hello(
            Hello(
                protocolVersions: [1, 2, 300],
                cluster: "cluster-1",
                agentVersion: "1.2.3+build.7",
                appliedRevision: Int64.max,
                held: [
                    HeldResource(key: key, version: 17),
                    HeldResource(key: RelayResourceKey(kind: "ExternalEndpoint", namespace: "", name: "é-ü"), version: 0),
                ],
                outboundPolicy: "REGISTRY_ONLY"
            )
        ),
        .welcome(
            Welcome(
                protocolVersion: 1,
                serverVersion: "0.9.0",
                serverID: "meshrelay-0",
                cluster: "cluster-1",
                heartbeatIntervalMilliseconds: UInt32.max,
                revision: 123_456_789_012
            )
        ),
        .refuse(Refuse(code: RelayErrorCode(rawValue: 4_000_000_000), message: "from the future", retryAfterMilliseconds: 1)),
        .update(
            Update(
                revision: 99,
                isSnapshot: false,
                upserts: [
                    resource(1),
                    RelayResource(key: key, version: 5, generation: 0, labels: [:], specJSON: []),
                    RelayResource(
                        key: key,
                        version: 6,
                        generation: 2,
                        labels: ["": "", "a": "", "日本": "語", "k": String(repeating: "v", count: 300)],
                        specJSON: [0, 0xff, 0x7b, 0x7d],
                        creationTimestamp: "2026-11-30T18:05:00Z"
                    ),
                ],
                removals: [key, RelayResourceKey(kind: "ExternalService", namespace: "x", name: "gone")]
            )
        ),
        .ack(
            Ack(
                revision: 99,
                results: [
                    ResourceResult(key: key, version: 5, state: .applied),
                    ResourceResult(key: key, version: 6, state: .failed, message: "spec.ports[0].number: 0 is not a port"),
                    ResourceResult(key: key, version: 7, state: .warning, message: "⚠︎ deprecated field"),
                ]
            )
        ),
        .heartbeat(Heartbeat(sequence: UInt64.max)),
        .drain(Drain(message: "shutting down (SIGTERM)", closeAfterMilliseconds: 2_500)),
        .goodbye(Goodbye(code: .heartbeatTimeout, message: "no frame for 3 intervals (15000 ms)")),
    ]
}
