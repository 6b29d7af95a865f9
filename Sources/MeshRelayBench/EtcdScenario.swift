import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The peer (docs/benchmarks.md, "Peers"): the fan-out shape against etcd's watch, the engine
/// under Kubernetes' watches (and so under Istio and Gloo). `scripts/bench-etcd.sh` starts etcd
/// on loopback with mutual TLS and runs this.
///
/// Same technique as `fanout`: N watchers in this one process on one event loop group, each its
/// own TLS connection (etcd's JSON gateway: `POST /v3/watch`, a stream of JSON lines, one
/// connection per watch, as in docs/../TOOLS.md §2), one put at a time through `POST
/// /v3/kv/put` on a kept-alive TLS connection, waiting until every watcher received the event of
/// the put's revision. Latency per watcher: from just before the put is written to the socket
/// to the watcher reading the event (etcd's watch has no acknowledgement).
enum EtcdScenario {
    struct Endpoint {
        var host: String
        var port: Int
        var sslContext: NIOSSLContext
    }

    static let prefix = "/meshrelay-bench/"

    static func run(endpoint: Endpoint, watchers: Int, writes: Int, threads: Int?, timeout: Duration) async throws -> BenchResult {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount))
        let recorder = FleetRecorder(agents: watchers, keepsAcks: true)
        let clients = (0..<watchers).map { EtcdWatcher(index: $0, eventLoop: group.next(), endpoint: endpoint, recorder: recorder) }
        do {
            let putter = try await EtcdPutClient.connect(endpoint: endpoint, group: group)
            for client in clients { client.start() }
            guard await waitUntil(timeout: timeout, { recorder.read { $0.allSatisfy(\.established) } }) else {
                throw BenchError(
                    "only \(recorder.read { $0.count(where: \.established) }) of \(watchers) etcd watches were created within \(timeout)"
                        + (recorder.read { $0.compactMap(\.lastClose).first }.map { "; one said: \($0)" } ?? "")
                )
            }
            // One put before the measured ones (as `fanout` syncs the fleet first).
            _ = try await put(0, putter: putter, recorder: recorder, watchers: watchers, timeout: timeout)

            var lastAgent: [Double] = []
            var perAgent: [Double] = []
            var putLatency: [Double] = []
            for write in 1...writes {
                let (sentAt, answeredAt, revision) = try await put(write, putter: putter, recorder: recorder, watchers: watchers, timeout: timeout)
                putLatency.append(sentAt.duration(to: answeredAt).benchMilliseconds)
                let latencies = recorder.latencies(revision: revision, sentAt: sentAt).compactMap { $0?.benchMilliseconds }
                perAgent.append(contentsOf: latencies)
                lastAgent.append(latencies.max() ?? 0)
            }
            var result = BenchResult(scenario: "etcd-fanout")
            result.set("watchers", watchers)
            result.setFanout(agents: watchers, writes: writes, lastAgent: lastAgent, perAgent: perAgent, write: putLatency)
            let last = LatencySummary(milliseconds: lastAgent)
            let each = LatencySummary(milliseconds: perAgent)
            progress(
                "etcd-fanout: \(watchers) watchers, \(writes) puts; last watcher p50 \(ms(last.p50)) p99 \(ms(last.p99)) max \(ms(last.max)); "
                    + "per watcher p50 \(ms(each.p50)) p99 \(ms(each.p99))"
            )
            try? await putter.close().get()
            await shutDown(clients, group: group)
            return result
        } catch {
            await shutDown(clients, group: group)
            throw error
        }
    }

    /// Puts a new value and waits until every watcher saw its revision.
    private static func put(_ write: Int, putter: EtcdPutClient, recorder: FleetRecorder, watchers: Int, timeout: Duration)
        async throws -> (ContinuousClock.Instant, ContinuousClock.Instant, Int64)
    {
        let (sentAt, answeredAt, revision) = try await putter.put(key: prefix + "fanout", value: "write-\(write)", timeout: timeout)
        guard await waitUntil(timeout: timeout, { recorder.agentsAcked(atLeast: revision) == watchers }) else {
            throw BenchError("put \(write) (revision \(revision)): only \(recorder.agentsAcked(atLeast: revision)) of \(watchers) watchers saw it within \(timeout)")
        }
        return (sentAt, answeredAt, revision)
    }

    /// Closes every connection, then stops the loops (a close after that would have no loop).
    private static func shutDown(_ watchers: [EtcdWatcher], group: MultiThreadedEventLoopGroup) async {
        try? await EventLoopFuture.andAllComplete(watchers.map { $0.close() }, on: group.any()).get()
        try? await group.shutdownGracefully()
    }

    /// The TLS context of the bench's etcd client: trusts `ca`, presents `certificate`/`key`.
    static func sslContext(ca: String, certificate: String, key: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .file(ca)
        configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
        configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
        // The address is an IP: the certificate is checked against the CA, not a host name.
        configuration.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// The value of the first `"revision":"N"` in a gateway JSON message (the header's: the
    /// store revision the message reflects). A byte search: it runs for every event of every
    /// watcher, and what the harness spends there is counted against etcd.
    static func headerRevision(in line: ArraySlice<UInt8>) -> Int64? {
        guard let marker = line.firstRange(of: Self.revisionMarker) else { return nil }
        var value: Int64 = 0
        var digits = 0
        for byte in line[marker.upperBound...] {
            guard (0x30...0x39).contains(byte), digits < 18 else { break }
            value = value * 10 + Int64(byte - 0x30)
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    static func headerRevision(in line: [UInt8]) -> Int64? {
        headerRevision(in: line[...])
    }

    static let revisionMarker = Array(#""revision":""#.utf8)
    static let createdMarker = Array(#""created":true"#.utf8)
    static let eventsMarker = Array(#""events""#.utf8)
    static let errorMarker = Array(#""error""#.utf8)

    static func base64(_ text: String) -> String {
        Data(text.utf8).base64EncodedString()
    }
}

/// One etcd watch: a TLS connection posting a watch of the bench prefix, reading the stream of
/// JSON lines. Loop-bound except ``start()`` and ``close()``.
final class EtcdWatcher: @unchecked Sendable {
    let index: Int
    let eventLoop: any EventLoop
    private let endpoint: EtcdScenario.Endpoint
    private let recorder: FleetRecorder
    private var channel: (any Channel)?
    private var pending: [UInt8] = []

    init(index: Int, eventLoop: any EventLoop, endpoint: EtcdScenario.Endpoint, recorder: FleetRecorder) {
        self.index = index
        self.eventLoop = eventLoop
        self.endpoint = endpoint
        self.recorder = recorder
    }

    func start() {
        connectBenchClient(on: self.eventLoop, host: self.endpoint.host, port: self.endpoint.port, sslContext: self.endpoint.sslContext) { pipeline in
            try pipeline.addHTTPClientHandlers()
            try pipeline.addHandler(EtcdWatchHandler(watcher: self))
        }.whenComplete { result in
            switch result {
            case .success(let channel): self.channel = channel
            case .failure(let error): self.recorder.update(self.index) { $0.lastClose = "connect: \(error)" }
            }
        }
    }

    func close() -> EventLoopFuture<Void> {
        self.eventLoop.flatSubmit { self.channel?.close() ?? self.eventLoop.makeSucceededVoidFuture() }
    }

    fileprivate func request(host: String) -> (HTTPRequestHead, ByteBuffer) {
        let body = #"{"create_request":{"key":""# + EtcdScenario.base64(EtcdScenario.prefix) + #"","range_end":""#
            + EtcdScenario.base64(String(EtcdScenario.prefix.dropLast()) + "0") + #""}}"#
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        return (HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v3/watch", headers: headers), ByteBuffer(string: body))
    }

    /// A piece of the response body: complete lines are messages.
    fileprivate func received(_ buffer: ByteBuffer) {
        self.pending.append(contentsOf: buffer.readableBytesView)
        while let newline = self.pending.firstIndex(of: UInt8(ascii: "\n")) {
            let line = self.pending[..<newline]
            self.handle(line)
            self.pending.removeSubrange(...newline)
        }
    }

    /// One message: the time is taken before it is read, as an agent's is before it decodes.
    private func handle(_ line: ArraySlice<UInt8>) {
        let receivedAt = ContinuousClock.now
        if line.firstRange(of: EtcdScenario.eventsMarker) != nil, let revision = EtcdScenario.headerRevision(in: line) {
            self.recorder.ackWritten(self.index, revision: revision, at: receivedAt)
        } else if line.firstRange(of: EtcdScenario.createdMarker) != nil {
            self.recorder.update(self.index) { $0.established = true }
        } else if line.firstRange(of: EtcdScenario.errorMarker) != nil {
            self.recorder.update(self.index) { $0.lastClose = String(decoding: line, as: UTF8.self) }
        }
    }

    fileprivate func failed(_ reason: String) {
        self.recorder.update(self.index) { $0.lastClose = reason }
    }
}

private final class EtcdWatchHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    private let watcher: EtcdWatcher

    init(watcher: EtcdWatcher) {
        self.watcher = watcher
    }

    func channelActive(context: ChannelHandlerContext) {
        let host = context.channel.remoteAddress.map { "\($0.ipAddress ?? "127.0.0.1"):\($0.port ?? 0)" } ?? "127.0.0.1"
        let (head, body) = self.watcher.request(host: host)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            if head.status != .ok { self.watcher.failed("watch answered \(head.status.code)") }
        case .body(let buffer):
            self.watcher.received(buffer)
        case .end:
            self.watcher.failed("the watch stream ended")
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.watcher.failed("\(error)")
        context.close(promise: nil)
    }
}

/// Puts over one kept-alive TLS connection, one at a time.
final class EtcdPutClient: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<EtcdPutHandler>
    private let host: String

    private init(channel: any Channel, handler: NIOLoopBound<EtcdPutHandler>, host: String) {
        self.channel = channel
        self.handler = handler
        self.host = host
    }

    static func connect(endpoint: EtcdScenario.Endpoint, group: MultiThreadedEventLoopGroup) async throws -> EtcdPutClient {
        let loop = group.next()
        let channel = try await connectBenchClient(on: loop, host: endpoint.host, port: endpoint.port, sslContext: endpoint.sslContext) { pipeline in
            try pipeline.addHTTPClientHandlers()
            try pipeline.addHandler(EtcdPutHandler())
        }.get()
        let handler = try await loop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: EtcdPutHandler.self), eventLoop: loop)
        }.get()
        return EtcdPutClient(channel: channel, handler: handler, host: "\(endpoint.host):\(endpoint.port)")
    }

    /// Puts `value` at `key`: when the request was written, when the answer arrived, and the
    /// revision it committed.
    func put(key: String, value: String, timeout: Duration) async throws -> (ContinuousClock.Instant, ContinuousClock.Instant, Int64) {
        let body = #"{"key":""# + EtcdScenario.base64(key) + #"","value":""# + EtcdScenario.base64(value) + #""}"#
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: self.host)
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v3/kv/put", headers: headers)
        let handler = self.handler
        let answer = try await self.channel.eventLoop.flatSubmit {
            handler.value.send(head: head, body: ByteBuffer(string: body), timeout: timeout)
        }.get()
        guard answer.status == 200, let revision = EtcdScenario.headerRevision(in: answer.body) else {
            throw BenchError("etcd put answered \(answer.status): \(String(decoding: answer.body, as: UTF8.self))")
        }
        return (answer.sentAt, answer.receivedAt, revision)
    }

    func close() -> EventLoopFuture<Void> {
        self.channel.close()
    }
}

/// The put connection's handler: one request in flight, its answer collected.
final class EtcdPutHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    struct Answer: Sendable {
        var status: UInt
        var body: [UInt8]
        var sentAt: ContinuousClock.Instant
        var receivedAt: ContinuousClock.Instant
    }

    private var context: ChannelHandlerContext?
    private var pending: (promise: EventLoopPromise<Answer>, sentAt: ContinuousClock.Instant, timer: Scheduled<Void>)?
    private var status: UInt = 0
    private var body: [UInt8] = []

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func send(head: HTTPRequestHead, body: ByteBuffer, timeout: Duration) -> EventLoopFuture<Answer> {
        guard let context = self.context else {
            return MultiThreadedEventLoopGroup.singleton.next().makeFailedFuture(BenchError("the etcd put connection is gone"))
        }
        let promise = context.eventLoop.makePromise(of: Answer.self)
        guard self.pending == nil else {
            promise.fail(BenchError("an etcd put is already in flight"))
            return promise.futureResult
        }
        let timer = context.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
            promise.fail(BenchError("etcd did not answer a put within \(timeout)"))
        }
        self.status = 0
        self.body = []
        let sentAt = ContinuousClock.now
        self.pending = (promise, sentAt, timer)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.status = head.status.code
        case .body(let buffer):
            self.body.append(contentsOf: buffer.readableBytesView)
        case .end:
            guard let pending = self.pending else { return }
            self.pending = nil
            pending.timer.cancel()
            pending.promise.succeed(Answer(status: self.status, body: self.body, sentAt: pending.sentAt, receivedAt: .now))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let pending = self.pending {
            self.pending = nil
            pending.timer.cancel()
            pending.promise.fail(BenchError("etcd closed the put connection"))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
