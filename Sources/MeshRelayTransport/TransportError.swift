/// A transport failure (TLS material, identity), with an extensible code and an operator-facing
/// message that says what to do.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// A certificate or key file is missing or unreadable.
        public static let missingFile = Code("missingFile")
        /// A certificate or key could not be parsed.
        public static let invalidCertificate = Code("invalidCertificate")
        /// The peer's certificate carries no usable cluster identity.
        public static let noIdentity = Code("noIdentity")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
