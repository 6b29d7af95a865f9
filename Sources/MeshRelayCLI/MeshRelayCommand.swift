public import ArgumentParser
import Foundation

/// The `meshrelay` command: server and kubectl-like client verbs.
public struct MeshRelayCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "meshrelay",
        abstract: "Multicluster egress control: ExternalServices from one management server to every cluster's agent.",
        discussion: """
            Client verbs find the server with --api or MESHRELAY_API (default http://127.0.0.1:9091) and the
            admin token with --token-file or MESHRELAY_TOKEN (default ./meshrelay-data/admin.token).
            Exit codes: 0 ok, 1 the server said no, 2 usage error, 3 cannot reach the server.
            """,
        version: MeshRelayVersion.current,
        subcommands: [
            ServerCommand.self, AgentCommand.self, ApplyCommand.self, GetCommand.self, DeleteCommand.self, DescribeCommand.self, StatusCommand.self, CheckCommand.self, EnvoyBootstrapCommand.self, CertsCommand.self, TokenCommand.self, DemoCommand.self,
        ]
    )

    public init() {}

    /// Parses the arguments, runs the verb, and returns the process exit code.
    public static func runMain(arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Int32 {
        var command: any ParsableCommand
        let expanded: [String]
        let configFile: String?
        do {
            (expanded, configFile) = try ConfigFile.expand(arguments)
        } catch {
            printError(error.message)
            return error.exitCode
        }
        do {
            command = try parseAsRoot(expanded)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error, columns: helpColumns())
            if code == .success {
                print(message)
                return 0
            }
            printError(message + (configFile.map { "\n(options may come from --config \($0): its keys are these option names without dashes)" } ?? ""))
            return 2
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch let error as CLIError {
            printError(error.message)
            return error.exitCode
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error, columns: helpColumns())
            if code == .success {
                // `meshrelay --help`, `help VERB`: the built-in help verb reports through a clean
                // exit whose message is the help text (it printed nothing before).
                if !message.isEmpty { print(message) }
                return 0
            }
            printError(message.isEmpty ? "\(error)" : message)
            return code == .validationFailure ? 2 : 1
        }
    }
}

/// The terminal's width when stdout is a terminal that reports one, else 100.
func helpColumns() -> Int {
    var size = winsize()
    guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col >= 40 else { return 100 }
    return Int(size.ws_col)
}
