/// An error of the relay protocol's framing and payload coding: a frame over the size limit, a
/// payload that does not decode, a frame type the receiver does not know, a stream cut inside a
/// frame.
///
/// Every such error ends the session: the receiver sends a GOODBYE with ``relayErrorCode`` (when
/// the connection still allows it) and closes. ``Code`` is extensible: switch on it with a
/// `default` branch.
public struct RelayProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure. New codes may be added in any release.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: Sendable, Hashable {
            case frameTooLarge
            case malformedPayload
            case unsupportedMessage
            case truncated
            case encodingFailed
        }

        private var base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// A frame's length field announced more than the receiver's maximum payload size (checked
        /// before the payload is buffered), or a sender tried to encode such a frame.
        public static let frameTooLarge = Code(.frameTooLarge)
        /// The payload is not a valid protobuf message of the frame type's schema, or it violates a
        /// rule of docs/protocol.md (e.g. a HELLO without protocol versions).
        public static let malformedPayload = Code(.malformedPayload)
        /// A frame type the receiver does not know, without the IGNORABLE flag.
        public static let unsupportedMessage = Code(.unsupportedMessage)
        /// The stream ended inside a frame (EOF with a partial header or payload buffered).
        public static let truncated = Code(.truncated)
        /// The local side could not encode a message (protobuf's 2 GiB message limit).
        public static let encodingFailed = Code(.encodingFailed)

        /// The code's name, e.g. `frameTooLarge`.
        public var description: String {
            switch self.base {
            case .frameTooLarge: "frameTooLarge"
            case .malformedPayload: "malformedPayload"
            case .unsupportedMessage: "unsupportedMessage"
            case .truncated: "truncated"
            case .encodingFailed: "encodingFailed"
            }
        }

        /// The code to put in the GOODBYE sent to the peer before closing.
        public var relayErrorCode: RelayErrorCode {
            switch self.base {
            case .frameTooLarge, .malformedPayload, .truncated: .malformedFrame
            case .unsupportedMessage: .unsupportedMessage
            case .encodingFailed: .internalError
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// The type of the frame concerned, when known.
    public var frameType: FrameType?
    /// For ``Code/frameTooLarge``: the payload length the frame announced (or would have).
    public var announcedLength: Int?
    /// For ``Code/frameTooLarge``: the maximum payload size in force.
    public var limit: Int?
    /// Human-readable detail for logs, e.g. the field that failed validation.
    public var detail: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - frameType: The type of the frame concerned, if known.
    ///   - announcedLength: For ``Code/frameTooLarge``, the announced payload length.
    ///   - limit: For ``Code/frameTooLarge``, the limit in force.
    ///   - detail: Human-readable detail for logs.
    public init(
        code: Code,
        frameType: FrameType? = nil,
        announcedLength: Int? = nil,
        limit: Int? = nil,
        detail: String = ""
    ) {
        self.code = code
        self.frameType = frameType
        self.announcedLength = announcedLength
        self.limit = limit
        self.detail = detail
    }

    /// The code to put in the GOODBYE sent to the peer before closing (``Code/relayErrorCode``).
    public var relayErrorCode: RelayErrorCode {
        self.code.relayErrorCode
    }

    /// A one-line description for logs, e.g.
    /// `frameTooLarge: UPDATE frame announces 16777217 payload bytes, limit 16777216`.
    public var description: String {
        var text = "\(self.code)"
        var parts: [String] = []
        if let announcedLength = self.announcedLength, let limit = self.limit {
            let what = self.frameType.map { "\($0) frame" } ?? "frame"
            parts.append("\(what) announces \(announcedLength) payload bytes, limit \(limit)")
        } else if let frameType = self.frameType {
            parts.append("\(frameType) frame")
        }
        if !self.detail.isEmpty {
            parts.append(self.detail)
        }
        if !parts.isEmpty {
            text += ": " + parts.joined(separator: ": ")
        }
        return text
    }
}

extension RelayProtocolError {
    static func frameTooLarge(type: FrameType?, announcedLength: Int, limit: Int) -> Self {
        Self(code: .frameTooLarge, frameType: type, announcedLength: announcedLength, limit: limit)
    }

    static func malformedPayload(_ type: FrameType, _ detail: String) -> Self {
        Self(code: .malformedPayload, frameType: type, detail: detail)
    }
}
