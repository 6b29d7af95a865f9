/// An error of the management server, with an extensible code and an operator-facing message.
public struct ServerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// Bad flags, unreadable files, unusable directories.
        public static let configuration = Code("configuration")
        /// A listener could not bind.
        public static let bind = Code("bind")
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
