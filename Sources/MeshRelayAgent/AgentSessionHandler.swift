import MeshRelayProtocol
import NIOCore
import NIOTLS

/// The last handler of an agent connection (after TLS, the frame decoder and the frame encoder):
/// turns the channel's events into events of the agent's ``AgentSession`` (TLS handshake done,
/// decoded messages, frame errors, close). The session's state machine decides what happens.
///
/// Until the TLS handshake completes the state machine is not involved; the handler only bounds
/// the time the TCP connection and the handshake may take (`handshakeTimeout`).
final class AgentSessionHandler: ChannelInboundHandler {
    typealias InboundIn = RelayFrame
    typealias OutboundOut = RelayFrame

    private let session: AgentSession
    private let connection: AgentConnection
    private let handshakeTimeout: TimeAmount
    private var handshakeTimer: Scheduled<Void>?
    private var handshakeDone = false

    init(session: AgentSession, connection: AgentConnection, handshakeTimeout: TimeAmount) {
        self.session = session
        self.connection = connection
        self.handshakeTimeout = handshakeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.session.attached(self.connection, context: context)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.handshakeTimer = context.eventLoop.scheduleTask(in: self.handshakeTimeout) {
            loopBoundContext.value.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event, !self.handshakeDone {
            self.handshakeDone = true
            self.handshakeTimer?.cancel()
            self.handshakeTimer = nil
            self.session.handshakeCompleted(self.connection)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = self.unwrapInboundIn(data)
        do {
            guard let message = try RelayMessageCoding.message(from: frame) else {
                return  // an unknown IGNORABLE frame
            }
            self.session.messageReceived(message, on: self.connection)
        } catch {
            self.session.frameError(error.relayErrorCode, message: error.description, on: self.connection)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? RelayProtocolError {
            self.session.frameError(error.relayErrorCode, message: error.description, on: self.connection)
        } else if error is ByteToMessageDecoderError.PayloadTooLargeError {
            self.session.frameError(.malformedFrame, message: "frame buffer limit exceeded", on: self.connection)
        } else {
            // TLS or socket failure: the connection is unusable.
            self.session.transportFailed(error, on: self.connection)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
        self.session.channelClosed(self.connection)
        context.fireChannelInactive()
    }
}
