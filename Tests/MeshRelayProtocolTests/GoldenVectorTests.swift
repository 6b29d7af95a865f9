import MeshRelayProtocol
import NIOCore
import Testing

/// Golden byte vectors: one fixed message per type and its full frame (header + payload) in hex.
///
/// These bytes ARE the wire format (docs/protocol.md, "Golden vectors"). If a test here fails, the
/// encoding changed: that is a protocol break unless the change is an addition older peers skip.
/// Never "fix" a vector by pasting new output without a protocol version decision.
///
/// Layout of each constant: `length(4) type(1) flags(1) reserved(2) payload`.
@Suite("Golden vectors")
struct GoldenVectorTests {
    static let key = RelayResourceKey(kind: "ExternalService", namespace: "payments", name: "stripe")

    static let vectors: [(name: String, message: RelayMessage, hex: String)] = [
        (
            "HELLO",
            .hello(
                Hello(
                    protocolVersions: [1],
                    cluster: "c1",
                    agentVersion: "0.1.0",
                    appliedRevision: 42,
                    held: [HeldResource(key: key, version: 7)],
                    outboundPolicy: "REGISTRY_ONLY"
                )
            ),
            helloHex
        ),
        (
            "WELCOME",
            .welcome(
                Welcome(
                    protocolVersion: 1,
                    serverVersion: "0.1.0",
                    serverID: "s1",
                    cluster: "c1",
                    heartbeatIntervalMilliseconds: 5_000,
                    revision: 42
                )
            ),
            welcomeHex
        ),
        (
            "REFUSE",
            .refuse(Refuse(code: .unknownCluster, message: "c9 unknown", retryAfterMilliseconds: 30_000)),
            refuseHex
        ),
        (
            "UPDATE",
            .update(
                Update(
                    revision: 43,
                    isSnapshot: false,
                    upserts: [
                        RelayResource(
                            key: key,
                            version: 8,
                            generation: 2,
                            labels: ["team": "pay", "app": "api"],
                            specJSON: Array(#"{"hosts":["api.stripe.com"]}"#.utf8)
                        )
                    ],
                    removals: [RelayResourceKey(kind: "ExternalService", namespace: "payments", name: "old")]
                )
            ),
            updateHex
        ),
        (
            "ACK",
            .ack(
                Ack(
                    revision: 43,
                    results: [
                        ResourceResult(key: key, version: 8, state: .applied),
                        ResourceResult(key: key, version: 9, state: .failed, message: "bad port"),
                    ]
                )
            ),
            ackHex
        ),
        ("HEARTBEAT", .heartbeat(Heartbeat(sequence: 7)), heartbeatHex),
        ("DRAIN", .drain(Drain(message: "bye", closeAfterMilliseconds: 5_000)), drainHex),
        ("GOODBYE", .goodbye(Goodbye(code: .heartbeatTimeout, message: "silent")), goodbyeHex),
    ]

    static let helloHex =
        "00000048 01 00 0000 "
        + "0a0101 12026331 1a05302e312e30 202a"
        + "2a27 0a230a0f45787465726e616c5365727669636512087061796d656e74731a06737472697065 1007"
        + "320d52454749535452595f4f4e4c59"
    static let welcomeHex = "00000016 02 00 0000 0801 1205302e312e30 1a027331 22026331 288827 302a"
    static let refuseHex = "00000012 03 00 0000 0802 120a633920756e6b6e6f776e 18b0ea01"
    static let updateHex =
        "00000086 04 00 0000 "
        + "082b"
        + "1a60 0a230a0f45787465726e616c5365727669636512087061796d656e74731a06737472697065 1008 1802"
        + "220a0a036170701203617069 220b0a047465616d1203706179"
        + "2a1c7b22686f737473223a5b226170692e7374726970652e636f6d225d7d"
        + "2220 0a0f45787465726e616c5365727669636512087061796d656e74731a036f6c64"
    static let ackHex =
        "00000062 05 00 0000 "
        + "082b"
        + "1229 0a230a0f45787465726e616c5365727669636512087061796d656e74731a06737472697065 1008 1801"
        + "1233 0a230a0f45787465726e616c5365727669636512087061796d656e74731a06737472697065 1009 1802"
        + "220862616420706f7274"
    static let heartbeatHex = "00000002 06 00 0000 0807"
    static let drainHex = "00000008 07 00 0000 0a03627965 108827"
    static let goodbyeHex = "0000000a 08 00 0000 0806 120673696c656e74"

    @Test("encoding gives exactly the golden bytes", arguments: 0..<vectors.count)
    func encode(index: Int) throws {
        let vector = Self.vectors[index]
        let bytes = try RelayMessageCoding.encodedFrame(for: vector.message)
        let expected = vector.hex.filter { !$0.isWhitespace }
        let actual = CodecTestSupport.hex(bytes)
        #expect(actual == expected, "\(vector.name): \(Self.spaced(actual))")
    }

    @Test("decoding the golden bytes gives the message back", arguments: 0..<vectors.count)
    func decode(index: Int) throws {
        let vector = Self.vectors[index]
        let bytes = try #require(CodecTestSupport.bytes(hex: vector.hex), "\(vector.name): not hex")
        let frames = try CodecTestSupport.decodeAll(bytes)
        #expect(frames.count == 1)
        #expect(frames.first?.type == vector.message.frameType)
        #expect(try frames.first.flatMap(RelayMessageCoding.message(from:)) == vector.message, "\(vector.name)")
    }

    /// `length type flags reserved payload`, for pasting.
    static func spaced(_ hex: String) -> String {
        let characters = Array(hex)
        guard characters.count >= 16 else { return hex }
        return [
            String(characters[0..<8]), String(characters[8..<10]), String(characters[10..<12]),
            String(characters[12..<16]), String(characters[16...]),
        ].joined(separator: " ")
    }
}
