import NIOCore
import NIOPosix
import NIOSSL

/// N simulated agents on one shared event loop group, with what they observe.
final class AgentFleet: Sendable {
    let group: MultiThreadedEventLoopGroup
    let agents: [SimulatedAgent]
    let recorder: FleetRecorder

    /// Creates (does not start) one agent per cluster.
    ///
    /// - Parameters:
    ///   - clusters: The agents' cluster names.
    ///   - contexts: One client TLS context per cluster, same order.
    ///   - relayHost: The relay's address.
    ///   - relayPort: The relay's port.
    ///   - threads: Event loop threads.
    ///   - keepsAcks: Record every ACK (for latency figures).
    init(
        clusters: [String],
        contexts: [NIOSSLContext],
        relayHost: String,
        relayPort: Int,
        threads: Int,
        keepsAcks: Bool
    ) {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        let recorder = FleetRecorder(agents: clusters.count, keepsAcks: keepsAcks)
        self.group = group
        self.recorder = recorder
        self.agents = zip(clusters.indices, zip(clusters, contexts)).map { index, pair in
            SimulatedAgent(
                index: index,
                cluster: pair.0,
                eventLoop: group.next(),
                sslContext: pair.1,
                relayHost: relayHost,
                relayPort: relayPort,
                recorder: recorder
            )
        }
    }

    /// Every agent starts connecting at once.
    func start() {
        for agent in self.agents {
            agent.start()
        }
    }

    /// Waits (polling every `interval`) until `condition` holds; `false` if it did not within
    /// `timeout`.
    func waitUntil(
        timeout: Duration,
        interval: Duration = .milliseconds(1),
        _ condition: @Sendable (FleetRecorder) -> Bool
    ) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            if condition(self.recorder) {
                return true
            }
            guard ContinuousClock.now < deadline else {
                return false
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Waits (bounded) until every agent wrote an ACK of `revision` or later.
    func waitForAcks(revision: Int64, timeout: Duration) async -> Bool {
        let count = self.agents.count
        return await self.waitUntil(timeout: timeout) { $0.agentsAcked(atLeast: revision) == count }
    }

    /// Every agent says GOODBYE and closes (bounded to 10 s), then the event loops stop.
    func shutdown() async {
        let closed = self.agents.map { $0.shutdown() }
        let done = Locked(false)
        EventLoopFuture.andAllComplete(closed, on: self.group.any()).whenComplete { _ in
            done.withLock { $0 = true }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while !done.value && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        try? await self.group.shutdownGracefully()
    }
}

/// A client connection of the harness, as every scenario opens them (simulated agents, floor
/// subscribers, etcd watchers): TCP_NODELAY, connected within 10 s, TLS first, then `handlers`
/// (added on the connection's loop).
func connectBenchClient(
    on loop: any EventLoop,
    host: String,
    port: Int,
    sslContext: NIOSSLContext,
    serverHostname: String? = nil,
    handlers: @escaping @Sendable (ChannelPipeline.SynchronousOperations) throws -> Void
) -> EventLoopFuture<any Channel> {
    ClientBootstrap(group: loop)
        .connectTimeout(.seconds(10))
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                try handlers(pipeline)
            }
        }
        .connect(host: host, port: port)
}
