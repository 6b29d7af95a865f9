/// Why a certificate operation failed: what was wrong and what to do.
public struct PKIError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A name given for a certificate (SAN, cluster) is not acceptable.
        case invalidName
        /// A file to be written exists and `--force` was not given.
        case exists
        /// A file could not be read or written.
        case io
        /// A PEM file does not hold what was expected (certificate, EC key).
        case invalidPEM
        /// Signing or encoding failed.
        case signing
        /// A validity (days) outside what is accepted.
        case invalidValidity
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
