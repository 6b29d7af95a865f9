import Foundation
import MeshRelayProtocol
import MeshRelayTransport
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// The transport's floor (docs/benchmarks.md, "Peers"): the fan-out shape against a trivial TLS
/// broadcast server — no store, no protocol state, no status — so that the distance between
/// `fanout` and `floor` is what meshrelay adds to mutual TLS over loopback on this machine.
///
/// The broadcast server is this executable started again as `floor-server` (a separate process,
/// as the meshrelay server is). Its clients speak the relay's frame layout only: a subscriber
/// sends a HELLO frame and is answered WELCOME; a frame of type UPDATE from the publisher is
/// written unchanged to every subscriber; subscribers answer each with an ACK frame carrying the
/// same 8-byte sequence number, which the server reads and drops. The per-write latency is from
/// just before the publisher's write to each subscriber's ACK write, as in `fanout`.
enum FloorScenario {
    static func run(agents: Int, writes: Int, threads: Int?, timeout: Duration) async throws -> BenchResult {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-floor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        ServerCleanup.workDirectories.withLock { _ = $0.insert(work) }
        defer {
            try? FileManager.default.removeItem(atPath: work)
            ServerCleanup.workDirectories.withLock { _ = $0.remove(work) }
        }
        let certificates = try BenchCertificates(directory: work + "/certs")
        let port = try freeLoopbackPort()
        let server = try FloorServerProcess.start(port: port, certificatesDirectory: certificates.directory, log: work + "/floor-server.log")
        defer { server.stop() }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount))
        let recorder = FleetRecorder(agents: agents, keepsAcks: true)
        var subscribers: [FloorSubscriber] = []
        for index in 0..<agents {
            let context = try certificates.clientContext(cluster: String(format: "cluster-%04d", index + 1))
            subscribers.append(FloorSubscriber(index: index, eventLoop: group.next(), sslContext: context, port: port, recorder: recorder))
        }
        let publisherContext = try certificates.clientContext(cluster: "publisher")
        do {
            try await waitForListener(port: port, timeout: timeout, server: server)
            for subscriber in subscribers { subscriber.start() }
            let welcomed = await waitUntil(timeout: timeout) { recorder.read { $0.allSatisfy(\.established) } }
            guard welcomed else {
                throw BenchError("only \(recorder.read { $0.count(where: \.established) }) of \(agents) floor subscribers were welcomed within \(timeout)")
            }
            let publisher = try await FloorPublisher.connect(port: port, sslContext: publisherContext, group: group)
            // One write before the measured ones (as `fanout` syncs the fleet first).
            try await publish(0, publisher: publisher, recorder: recorder, agents: agents, timeout: timeout)

            var lastAgent: [Double] = []
            var perAgent: [Double] = []
            for write in 1...writes {
                let sentAt = try await publish(Int64(write), publisher: publisher, recorder: recorder, agents: agents, timeout: timeout)
                let latencies = recorder.latencies(revision: Int64(write), sentAt: sentAt).compactMap { $0?.benchMilliseconds }
                perAgent.append(contentsOf: latencies)
                lastAgent.append(latencies.max() ?? 0)
            }
            var result = BenchResult(scenario: "floor")
            result.setFanout(agents: agents, writes: writes, lastAgent: lastAgent, perAgent: perAgent, write: [])
            let last = LatencySummary(milliseconds: lastAgent)
            progress("floor: \(agents) subscribers, \(writes) writes; last subscriber p50 \(ms(last.p50)) p99 \(ms(last.p99)) max \(ms(last.max))")
            try? await publisher.close().get()
            await shutDown(subscribers, group: group)
            return result
        } catch {
            await shutDown(subscribers, group: group)
            throw error
        }
    }

    /// Writes sequence number `sequence` and waits until every subscriber acknowledged it;
    /// returns when the write started.
    @discardableResult
    private static func publish(_ sequence: Int64, publisher: FloorPublisher, recorder: FleetRecorder, agents: Int, timeout: Duration) async throws -> ContinuousClock.Instant {
        let sentAt = ContinuousClock.now
        publisher.send(sequence)
        let acked = await waitUntil(timeout: timeout) { recorder.agentsAcked(atLeast: sequence) == agents }
        guard acked else {
            throw BenchError("write \(sequence): only \(recorder.agentsAcked(atLeast: sequence)) of \(agents) floor subscribers acknowledged within \(timeout)")
        }
        return sentAt
    }

    private static func waitForListener(port: Int, timeout: Duration, server: FloorServerProcess) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard server.isRunning else {
                throw BenchError("the floor server exited: \(server.logTail())")
            }
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BenchError("the floor server did not listen on 127.0.0.1:\(port) within \(timeout)")
    }

    /// Closes every connection, then stops the loops (a close after that would have no loop).
    private static func shutDown(_ subscribers: [FloorSubscriber], group: MultiThreadedEventLoopGroup) async {
        try? await EventLoopFuture.andAllComplete(subscribers.map { $0.close() }, on: group.any()).get()
        try? await group.shutdownGracefully()
    }
}

/// Polls `condition` every millisecond until it holds (`true`) or `timeout` passes (`false`).
func waitUntil(timeout: Duration, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(for: .milliseconds(1))
    }
}

/// The frame of sequence number `sequence` (8 bytes, big-endian).
private func sequenceFrame(_ type: FrameType, _ sequence: Int64) -> RelayFrame {
    var payload = ByteBuffer()
    payload.writeInteger(sequence)
    return RelayFrame(type: type, payload: payload)
}

// MARK: Subscribers and publisher

/// One subscriber of the floor: a mutual-TLS connection that says HELLO, then answers every
/// UPDATE with an ACK of its sequence number. Loop-bound except ``start()`` and ``close()``.
final class FloorSubscriber: @unchecked Sendable {
    let index: Int
    let eventLoop: any EventLoop
    private let sslContext: NIOSSLContext
    private let port: Int
    private let recorder: FleetRecorder
    private var channel: (any Channel)?

    init(index: Int, eventLoop: any EventLoop, sslContext: NIOSSLContext, port: Int, recorder: FleetRecorder) {
        self.index = index
        self.eventLoop = eventLoop
        self.sslContext = sslContext
        self.port = port
        self.recorder = recorder
    }

    func start() {
        connectBenchClient(on: self.eventLoop, host: "127.0.0.1", port: self.port, sslContext: self.sslContext) { pipeline in
            try pipeline.addHandler(RelayFrameDecoder().makeHandler())
            try pipeline.addHandler(RelayFrameWriter())
            try pipeline.addHandler(FloorSubscriberHandler(subscriber: self))
        }.whenSuccess { channel in self.channel = channel }
    }

    func close() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit { self.channel?.close() ?? self.eventLoop.makeSucceededVoidFuture() }
    }

    fileprivate func received(_ frame: RelayFrame, context: ChannelHandlerContext) {
        switch frame.type {
        case .welcome:
            self.recorder.update(self.index) { $0.established = true }
        case .update:
            guard let sequence = frame.payload.getInteger(at: frame.payload.readerIndex, as: Int64.self) else { return }
            context.writeAndFlush(NIOAny(sequenceFrame(.ack, sequence)), promise: nil)
            self.recorder.ackWritten(self.index, revision: sequence, at: .now)
        default:
            break
        }
    }
}

private final class FloorSubscriberHandler: ChannelInboundHandler {
    typealias InboundIn = RelayFrame
    private let subscriber: FloorSubscriber

    init(subscriber: FloorSubscriber) {
        self.subscriber = subscriber
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            context.writeAndFlush(NIOAny(RelayFrame(type: .hello, payload: ByteBuffer())), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.subscriber.received(self.unwrapInboundIn(data), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The publisher's connection (a client certificate of the run, no HELLO).
final class FloorPublisher: Sendable {
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func connect(port: Int, sslContext: NIOSSLContext, group: MultiThreadedEventLoopGroup) async throws -> FloorPublisher {
        let channel = try await connectBenchClient(on: group.next(), host: "127.0.0.1", port: port, sslContext: sslContext) { pipeline in
            try pipeline.addHandler(RelayFrameWriter())
        }.get()
        return FloorPublisher(channel: channel)
    }

    func send(_ sequence: Int64) {
        self.channel.writeAndFlush(sequenceFrame(.update, sequence), promise: nil)
    }

    func close() -> EventLoopFuture<Void> {
        self.channel.close()
    }
}

// MARK: The broadcast server (`meshrelay-bench floor-server`)

/// The floor's server: accepts mutual-TLS connections (the relay's TLS configuration from a
/// certificate folder), registers those that say HELLO, and writes every UPDATE frame it reads
/// to each of them. Runs until the process is stopped.
enum FloorServer {
    static func run(port: Int, certificatesDirectory: String) async throws {
        let tls = try NIOSSLContext(configuration: RelayTLS.serverConfiguration(certificatesDirectory: certificatesDirectory))
        let subscribers = FloorSubscribers()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLServerHandler(context: tls))
                    try pipeline.addHandler(RelayFrameDecoder().makeHandler())
                    try pipeline.addHandler(RelayFrameWriter())
                    try pipeline.addHandler(FloorServerHandler(subscribers: subscribers))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        print("floor server listening on 127.0.0.1:\(port)")
        try await channel.closeFuture.get()
    }
}

/// The subscribed channels, by event loop: a broadcast hands each loop one task that writes to
/// its channels (as the meshrelay hub hands each session its view).
final class FloorSubscribers: Sendable {
    private let channels = Locked<[ObjectIdentifier: (loop: any EventLoop, channels: [ObjectIdentifier: any Channel])]>([:])

    func add(_ channel: any Channel) {
        self.channels.withLock { byLoop in
            let loop = ObjectIdentifier(channel.eventLoop)
            byLoop[loop, default: (channel.eventLoop, [:])].channels[ObjectIdentifier(channel)] = channel
        }
    }

    func remove(_ channel: any Channel) {
        self.channels.withLock { byLoop in
            byLoop[ObjectIdentifier(channel.eventLoop)]?.channels[ObjectIdentifier(channel)] = nil
        }
    }

    func broadcast(_ frame: RelayFrame) {
        let groups = self.channels.withLock { Array($0.values) }
        for group in groups {
            let channels = Array(group.channels.values)
            group.loop.execute {
                for channel in channels {
                    channel.writeAndFlush(frame, promise: nil)
                }
            }
        }
    }
}

private final class FloorServerHandler: ChannelInboundHandler {
    typealias InboundIn = RelayFrame
    typealias OutboundOut = RelayFrame
    private let subscribers: FloorSubscribers
    private var subscribed = false

    init(subscribers: FloorSubscribers) {
        self.subscribers = subscribers
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        switch frame.type {
        case .hello:
            self.subscribed = true
            self.subscribers.add(context.channel)
            context.writeAndFlush(self.wrapOutboundOut(RelayFrame(type: .welcome, payload: ByteBuffer())), promise: nil)
        case .update:
            self.subscribers.broadcast(frame)
        default:
            break  // ACKs: read and dropped
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if self.subscribed { self.subscribers.remove(context.channel) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// The `floor-server` child process.
final class FloorServerProcess: Sendable {
    private let process: Process
    private let logPath: String

    private init(process: Process, logPath: String) {
        self.process = process
        self.logPath = logPath
    }

    static func start(port: Int, certificatesDirectory: String, log: String) throws -> FloorServerProcess {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: log) else {
            throw BenchError("cannot open the floor server's log \(log)")
        }
        let process = Process()
        process.executableURL = (Bundle.main.executableURL ?? URL(fileURLWithPath: "/proc/self/exe")).resolvingSymlinksInPath()
        process.arguments = ["floor-server", "--port", String(port), "--certs-dir", certificatesDirectory]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        ServerCleanup.running.withLock { _ = $0.insert(process.processIdentifier) }
        return FloorServerProcess(process: process, logPath: log)
    }

    var isRunning: Bool { self.process.isRunning }

    func logTail() -> String {
        let text = (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(10).joined(separator: "\n")
    }

    /// SIGTERM, then SIGKILL after 5 s.
    func stop() {
        let pid = self.process.processIdentifier
        if self.process.isRunning {
            kill(pid, SIGTERM)
            for _ in 0..<500 where self.process.isRunning { usleep(10_000) }
            if self.process.isRunning { kill(pid, SIGKILL) }
        }
        self.process.waitUntilExit()
        ServerCleanup.running.withLock { _ = $0.remove(pid) }
    }
}
