/// An error from the store, with a code callers can switch on and a message for the operator.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is; extensible.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let raw: String
        private init(_ raw: String) { self.raw = raw }
        /// The database file could not be opened or created.
        public static let cannotOpen = Code("cannotOpen")
        /// A schema migration failed, or the file was written by a newer meshrelay.
        public static let migration = Code("migration")
        /// A read or write failed (disk full, I/O error, locked too long).
        public static let io = Code("io")
        /// Stored data could not be decoded.
        public static let corrupt = Code("corrupt")
        /// The input breaks a store invariant (e.g. the same key twice in one apply).
        public static let invalidInput = Code("invalidInput")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "store error (\(code)): \(message)" }
}
