/// An error of the relay agent, with an extensible code and a message that says what to do.
public struct AgentError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// The durable state file cannot be read or written.
        public static let stateFile = Code("stateFile")
        /// Bad flags or unusable files.
        public static let configuration = Code("configuration")
        /// The data plane (Envoy, its config files, its admin endpoint) failed.
        public static let dataPlane = Code("dataPlane")
        /// Enrolment with a bootstrap token failed (refused, or the server cannot be reached).
        public static let enrollment = Code("enrollment")
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
