/// A failure of a CLI verb, with the process exit code it maps to.
///
/// Exit codes: 0 ok, 1 the server said no (or the command failed), 2 usage error, 3 cannot reach
/// the server.
public struct CLIError: Error, Sendable, CustomStringConvertible {
    public var exitCode: Int32
    public var message: String

    public init(exitCode: Int32, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    static func refused(_ message: String) -> CLIError { CLIError(exitCode: 1, message) }
    static func usage(_ message: String) -> CLIError { CLIError(exitCode: 2, message) }
    static func unreachable(_ message: String) -> CLIError { CLIError(exitCode: 3, message) }

    public var description: String { message }
}
