import MeshRelayProtocol
import NIOCore

/// What the fuzzers exercise: arbitrary bytes through the frame decoder, every decoded frame
/// through the payload decoder, and every decoded message into both session state machines
/// (server and agent), with timers driven from the input. Anything but a crash is fine.
enum FuzzTargets {
    static let origin = ContinuousClock.now

    static func run(_ bytes: [UInt8]) {
        var buffer = ByteBuffer(bytes: bytes)
        var decoder = RelayFrameDecoder(maximumPayloadBytes: 1 << 20)
        var server = ServerSessionStateMachine(
            configuration: .init(serverVersion: "fuzz", serverID: "fuzz"), identity: "cluster-1", now: origin
        )
        var agent = AgentSessionStateMachine(
            configuration: .init(cluster: "cluster-1", agentVersion: "fuzz", outboundPolicy: "REGISTRY_ONLY"),
            held: [], appliedRevision: 0
        )
        _ = agent.connected(now: origin)
        var now = origin
        var frames = 0
        while frames < 1000 {
            let frame: RelayFrame?
            do {
                frame = try decoder.decode(buffer: &buffer)
            } catch {
                _ = server.frameError(error.relayErrorCode, message: error.description)
                _ = agent.frameError(error.relayErrorCode, message: error.description)
                return
            }
            guard let frame else { break }
            frames += 1
            now = now.advanced(by: .milliseconds(Int(frame.flags) * 50))
            let message: RelayMessage?
            do {
                message = try RelayMessageCoding.message(from: frame)
            } catch {
                _ = server.frameError(error.relayErrorCode, message: error.description)
                continue
            }
            guard let message else { continue }
            // Round trip: what decoded must encode and decode to the same message.
            if let again = try? RelayMessageCoding.message(from: RelayMessageCoding.frame(for: message)), again != message {
                preconditionFailure("round trip changed \(message) into \(again)")
            }
            for action in server.messageReceived(message, now: now) {
                if case .lookUpCluster = action {
                    _ = server.clusterLookedUp(.registered(ClusterView(revision: 1, resources: [:])), now: now)
                }
            }
            for action in agent.messageReceived(message, now: now) {
                if case .apply(let update) = action {
                    let results = update.upserts.map { ResourceResult(key: $0.key, version: $0.version, state: .applied) }
                    _ = agent.applyCompleted(revision: update.revision, results: results, now: now)
                }
            }
            _ = server.timerFired(now: now)
            _ = agent.timerFired(now: now)
        }
        _ = try? decoder.decodeLast(buffer: &buffer, seenEOF: true)
        _ = server.channelClosed()
        _ = agent.channelClosed()
    }
}
