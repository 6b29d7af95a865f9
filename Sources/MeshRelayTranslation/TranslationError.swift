/// An input the translator cannot work with at all (per-resource problems are outcomes instead).
public struct TranslationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong; extensible.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        /// The gateway configuration is unusable (a relative config directory, a bad address or
        /// port).
        public static let invalidGateway = Code(value: "invalidGateway")
        /// The bootstrap parameters are unusable.
        public static let invalidBootstrap = Code(value: "invalidBootstrap")
        public var description: String { value }
    }

    public var code: Code
    /// What is wrong and what to do about it.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
