import CoreMetrics
import Foundation
import Logging
import MeshRelayProtocol
import MeshRelayStore
import MeshRelayTransport
import NIOCore
import NIOSSL
import NIOTLS
import X509

/// Runs one agent session on its channel: takes the cluster identity from the verified client
/// certificate once TLS completes, then feeds frames, timers and writability into a
/// ``ServerSessionStateMachine`` and executes the actions it returns. No protocol decision is
/// made here.
final class RelaySessionHandler: ChannelInboundHandler {
    typealias InboundIn = RelayFrame
    typealias OutboundOut = RelayFrame

    private let hub: RelayHub
    private let configuration: ServerSessionStateMachine.Configuration
    private var logger: Logger
    private var machine: ServerSessionStateMachine?
    /// The machine's identity, once there is a machine. Checked instead of `machine != nil`,
    /// which copies the whole machine (its views and known versions) to compare it.
    private var identity: String?
    private var timer: Scheduled<Void>?
    /// The machine deadline `timer` is armed for.
    private var timerDeadline: ContinuousClock.Instant?
    private var registration: UInt64?
    /// Whether the session records status (from establishment to the close).
    private var recordsStatus = false
    /// The cluster record of the session as last recorded.
    private var statusRecord: ClusterStatusRecord?
    /// The cluster's convergence histogram, once established (with metrics).
    private var convergence: CoreMetrics.Timer?
    /// When the client certificate expires (status, `meshrelay check`).
    private var certificateNotAfter: Date?

    init(hub: RelayHub, configuration: ServerSessionStateMachine.Configuration, logger: Logger) {
        self.hub = hub
        self.configuration = configuration
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A client that does not complete TLS in time is dropped (slowloris handshakes).
        let channel = context.channel
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: TimeAmount(configuration.handshakeTimeout)) {
            if loopBound.value.identity == nil {
                loopBound.value.logger.info("relay client did not complete TLS in time")
                channel.close(promise: nil)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            do {
                guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                    throw TransportError(.noIdentity, "the client presented no certificate")
                }
                let der = try certificate.toDERBytes()
                let cluster = try ClusterIdentity.cluster(fromDER: der)
                certificateNotAfter = (try? Certificate(derEncoded: der))?.notValidAfter
                logger[metadataKey: "agent.cluster"] = "\(cluster)"
                machine = ServerSessionStateMachine(configuration: configuration, identity: cluster, now: .now)
                identity = cluster
                armTimer(context: context)
            } catch {
                logger.warning("relay client refused: no usable identity", metadata: ["error": "\(error)"])
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        hub.metrics?.relayFrame(direction: .inbound, type: frame.type, bytes: RelayFrame.headerLength + frame.payload.readableBytes)
        guard identity != nil else {
            context.close(promise: nil)
            return
        }
        let actions: [ServerSessionStateMachine.Action]
        do {
            guard let message = try RelayMessageCoding.message(from: frame) else { return }
            actions = machine?.messageReceived(message, now: .now) ?? []
        } catch {
            actions = machine?.frameError(error.relayErrorCode, message: error.description) ?? []
        }
        run(actions, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RelayProtocolError, identity != nil {
            run(machine?.frameError(error.relayErrorCode, message: error.description) ?? [], context: context)
            return
        }
        let peer = context.channel.remoteAddress.map { "\($0)" } ?? "unknown"
        if identity == nil, error is NIOSSLError {
            // Refused at the TLS layer (no certificate, another CA, expired, TLS < 1.2…): the
            // client gets an alert; the operator gets the reason and the address.
            logger.warning("relay client TLS handshake failed", metadata: ["error": "\(error)", "relay.peer": "\(peer)"])
        } else {
            logger.info("relay connection error", metadata: ["error": "\(error)", "relay.peer": "\(peer)"])
        }
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        run(machine?.writabilityChanged(context.channel.isWritable) ?? [], context: context)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        run(machine?.channelClosed() ?? [], context: context)
        recordsStatus = false
        context.fireChannelInactive()
    }

    // MARK: Executing actions

    private func run(_ actions: [ServerSessionStateMachine.Action], context: ChannelHandlerContext) {
        var wrote = false
        // A close waits for the writes before it (the farewell the machine sends with it). Only
        // then is a write's completion tracked: a promise per frame was a measurable part of a
        // fan-out, for a future nothing else reads.
        let closes = actions.contains { if case .close = $0 { true } else { false } }
        var lastWrite: EventLoopFuture<Void>?
        for action in actions {
            switch action {
            case .lookUpCluster(let cluster):
                let hub = self.hub
                let eventLoop = context.eventLoop
                let loopBound = NIOLoopBound((self, context), eventLoop: eventLoop)
                Task {
                    let lookup = await hub.lookUp(cluster: cluster)
                    eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.run(handler.machine?.clusterLookedUp(lookup, now: .now) ?? [], context: context)
                    }
                }
            case .established(let cluster, let hello, let version):
                established(cluster: cluster, hello: hello, protocolVersion: version, context: context)
            case .send(.update(let update)):
                wrote = write(frame: { () throws(RelayProtocolError) in try hub.updateFrame(update) }, tracked: closes, last: &lastWrite, context: context) || wrote
            case .send(let message):
                wrote = write(frame: { () throws(RelayProtocolError) in try RelayMessageCoding.frame(for: message) }, tracked: closes, last: &lastWrite, context: context) || wrote
            case .sendSnapshot(let view):
                if let cluster = identity {
                    wrote = write(
                        frame: { () throws(RelayProtocolError) in try hub.snapshotFrame(cluster: cluster, view: view) }, tracked: closes, last: &lastWrite,
                        context: context
                    ) || wrote
                }
            case .recordAck(let revision, let results, let generations):
                if let cluster = identity {
                    hub.metrics?.nacks(cluster: cluster, count: results.count { $0.state == .failed })
                    let records = hub.statusRecords(cluster: cluster, revision: revision, results: results, generations: generations)
                    recordStatus(.ack(records: records, acknowledged: true))
                }
            case .recordHeld(let revision, let results):
                if let cluster = identity {
                    let records = hub.statusRecords(cluster: cluster, revision: revision, results: results)
                    recordStatus(.ack(records: records, acknowledged: false))
                }
            case .recordDataPlane(let health):
                if let cluster = identity {
                    logger.info(
                        "agent data plane health changed",
                        metadata: ["agent.cluster": "\(cluster)", "data_plane.state": "\(health.state)", "data_plane.message": "\(health.message)"]
                    )
                    recordStatus(.dataPlane(RelayHub.bounded(health)))
                }
            case .synchronized(let revision):
                if let cluster = identity {
                    recordStatus(.synchronized(cluster: cluster, revision: revision))
                    if let convergence { hub.observeConvergence(cluster: cluster, revision: revision, in: convergence) }
                }
            case .close(let code, let message):
                logger.info("relay session closing", metadata: ["relay.code": "\(code)", "relay.reason": "\(message)"])
                if wrote { context.flush() }
                wrote = false
                let channel = context.channel
                if let lastWrite {
                    lastWrite.whenComplete { _ in channel.close(promise: nil) }
                } else {
                    channel.close(promise: nil)
                }
            case .disconnected(let cluster):
                if let registration { hub.unregister(registration) }
                registration = nil
                recordStatus(.disconnected(cluster: cluster))
                logger.info("agent disconnected")
            }
        }
        if wrote { context.flush() }
        armTimer(context: context)
    }

    private func recordStatus(_ write: RelayHub.StatusWrite) {
        guard recordsStatus else { return }
        hub.recordStatus(write, record: &statusRecord)
    }

    /// Writes a frame (not flushed); with `tracked`, `last` becomes the write's completion.
    private func write(
        frame makeFrame: () throws(RelayProtocolError) -> RelayFrame, tracked: Bool, last: inout EventLoopFuture<Void>?, context: ChannelHandlerContext
    ) -> Bool {
        do {
            let frame = try makeFrame()
            hub.metrics?.relayFrame(direction: .outbound, type: frame.type, bytes: RelayFrame.headerLength + frame.payload.readableBytes)
            if tracked {
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.write(wrapOutboundOut(frame), promise: promise)
                last = promise.futureResult
            } else {
                context.write(wrapOutboundOut(frame), promise: nil)
            }
            return true
        } catch {
            logger.error("cannot encode a relay message", metadata: ["error": "\(error)"])
            context.close(promise: nil)
            return false
        }
    }

    private func established(cluster: String, hello: Hello, protocolVersion: UInt32, context: ChannelHandlerContext) {
        recordsStatus = true
        convergence = hub.metrics?.convergence(cluster: cluster)
        recordStatus(
            .connected(
                ClusterStatusRecord(
                    cluster: cluster, connected: true, lastSeen: Date(), appliedRevision: hello.appliedRevision,
                    agentVersion: hello.agentVersion, outboundPolicy: hello.outboundPolicy, server: hub.serverID, updatedAt: Date(),
                    dataPlaneState: hello.dataPlane.map { RelayHub.bounded($0).state },
                    dataPlaneMessage: hello.dataPlane.map { RelayHub.bounded($0).message }
                )
            )
        )
        let eventLoop = context.eventLoop
        let loopBound = NIOLoopBound((self, context), eventLoop: eventLoop)
        registration = hub.register(
            cluster: cluster, certificateNotAfter: certificateNotAfter, on: eventLoop,
            deliver: { view in
                // On the loop: the hub hands the views of a push to all of the loop's sessions in
                // one task (``LoopSessions``), until the session unregisters.
                self.run(self.machine?.viewChanged(view) ?? [], context: context)
            },
            drain: {
                eventLoop.execute {
                    let (handler, context) = loopBound.value
                    handler.run(handler.machine?.drain(now: .now) ?? [], context: context)
                }
            }
        )
        logger.info(
            "agent connected",
            metadata: ["agent.version": "\(hello.agentVersion)", "agent.applied_revision": "\(hello.appliedRevision)", "relay.protocol": "\(protocolVersion)"]
        )
    }

    private func armTimer(context: ChannelHandlerContext) {
        guard let deadline = machine?.nextTimerDeadline else { return }
        // Most messages move the deadline later (liveness): a timer armed for an earlier instant
        // stays, fires early (harmless: the machine checks its deadlines) and is armed again
        // then. Rescheduling per message cost more than handling the message.
        if let armed = timerDeadline, armed <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        let delay = max(Duration.zero, deadline - ContinuousClock.now)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: TimeAmount(delay) + .milliseconds(1)) {
            let (handler, context) = loopBound.value
            handler.timerDeadline = nil
            handler.run(handler.machine?.timerFired(now: .now) ?? [], context: context)
        }
    }
}
