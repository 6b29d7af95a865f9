public import ArgumentParser
import Foundation

/// `meshrelay-bench`: the relay load harness (docs/benchmarks.md, "Relay").
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "meshrelay-bench",
        abstract: "Load harness: N simulated agents over mutual TLS against a meshrelay server.",
        discussion: """
            Each scenario starts its own `meshrelay server` (SQLite, loopback, fresh temp data and certificates) \
            unless --api/--relay/--certs-dir/--token-file point at a running one, and stops it at the end. \
            With --json the last line of standard output is one JSON object with the result.
            """,
        subcommands: [
            FanoutCommand.self, ReconnectCommand.self, MemoryCommand.self, InitialSyncCommand.self, ChurnCommand.self,
            TranslateCommand.self, EgressCommand.self, EtcdFanoutCommand.self, FloorCommand.self, FloorServerCommand.self,
        ]
    )

    public init() {}

    /// Parses the arguments and runs the scenario; exits with ArgumentParser's code on an error
    /// (2 for a usage error, 1 when the scenario failed).
    public static func runMain(arguments: [String] = Array(CommandLine.arguments.dropFirst())) async {
        ServerCleanup.installSignalHandlers()
        do {
            var command = try self.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            self.exit(withError: error)
        }
    }
}

/// Options shared by every scenario.
public struct CommonOptions: ParsableArguments, Sendable {
    @Flag(help: "Print the result as one JSON object on the last line of standard output.")
    var json = false

    @Option(help: "The meshrelay binary to start (default: `meshrelay` next to this executable).")
    var meshrelay: String?

    @Option(help: "Use a running server's API (http://HOST:PORT) instead of starting one; needs --relay, --certs-dir, --token-file.")
    var api: String?

    @Option(help: "The running server's relay address, HOST:PORT (with --api).")
    var relay: String?

    @Option(name: .customLong("certs-dir"), help: "With --api: ca.crt and NAME.crt/NAME.key per cluster (meshrelay certs issue).")
    var certsDir: String?

    @Option(name: .customLong("token-file"), help: "With --api: the admin token file.")
    var tokenFile: String?

    @Option(help: "Bound in seconds of every wait (server start, sync, each write's ACKs).")
    var timeout: Double = 120

    @Option(name: .customLong("server-log-level"), help: "--log-level of the started server.")
    var serverLogLevel = "warning"

    @Option(name: .customLong("heartbeat-interval"), help: "--heartbeat-interval (seconds) of the started server.")
    var heartbeatInterval: Double?

    @Option(help: "Event loop threads of the simulated agents (default: the number of cores).")
    var threads: Int?

    @Flag(name: .customLong("keep-work"), help: "Keep the temp folder (server data, certificates, server.log).")
    var keepWork = false

    public init() {}

    public func validate() throws {
        guard self.timeout > 0, self.timeout <= 86_400 else {
            throw ValidationError("--timeout must be between 0 and 86400 seconds")
        }
        if let threads = self.threads, !(1...256).contains(threads) {
            throw ValidationError("--threads must be between 1 and 256")
        }
        if let interval = self.heartbeatInterval, !(0.05...3600).contains(interval) {
            throw ValidationError("--heartbeat-interval must be between 0.05 and 3600 seconds")
        }
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(self.serverLogLevel) else {
            throw ValidationError("--server-log-level must be one of \(levels.joined(separator: ", "))")
        }
        if self.api != nil {
            guard let relay = self.relay, self.certsDir != nil, self.tokenFile != nil else {
                throw ValidationError("--api needs --relay, --certs-dir and --token-file")
            }
            do {
                _ = try Self.hostAndPort(relay)
            } catch {
                throw ValidationError("--relay: \(error)")
            }
            if self.meshrelay != nil {
                throw ValidationError("--meshrelay starts a server; it cannot be combined with --api")
            }
        } else if self.relay != nil || self.certsDir != nil || self.tokenFile != nil {
            throw ValidationError("--relay, --certs-dir and --token-file are only for a running server given with --api")
        }
    }

    /// Refuses `--api` for scenarios that restart or measure the server process.
    func requireOwnServer(_ scenario: String) throws {
        if self.api != nil {
            throw ValidationError("\(scenario) needs a server started by the harness (it \(scenario == "reconnect" ? "restarts" : "measures") it): drop --api")
        }
    }

    /// `HOST:PORT` (`[v6]:PORT`) split.
    static func hostAndPort(_ text: String) throws(BenchError) -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else {
            throw BenchError("\(text) is not HOST:PORT")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        guard !host.isEmpty else {
            throw BenchError("\(text) is not HOST:PORT")
        }
        return (host, port)
    }

    /// The `meshrelay` binary: `--meshrelay`, else next to this executable.
    func meshrelayBinary() throws -> String {
        if let path = self.meshrelay {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw BenchError("--meshrelay \(path) is not an executable file")
            }
            return path
        }
        let executable = Bundle.main.executableURL ?? URL(fileURLWithPath: "/proc/self/exe")
        var directory = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        // A test runner may live inside a bundle directory.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("meshrelay").path
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        throw BenchError("cannot find the meshrelay binary next to \(executable.path); pass --meshrelay PATH")
    }

    /// Prints the summary and, with `--json`, the JSON line last on standard output.
    func report(_ result: BenchResult) {
        if self.json {
            print(result.jsonLine)
        } else {
            for field in result.fields {
                print("\(field.key): \(BenchResult.encode(field.value))")
            }
        }
    }
}

/// Bounds shared by the scenario commands.
enum Limits {
    static let agents = 1...20_000

    static func checkAgents(_ agents: Int) throws {
        guard Self.agents.contains(agents) else {
            throw ValidationError("--agents must be between \(Self.agents.lowerBound) and \(Self.agents.upperBound)")
        }
    }
}

struct FanoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fanout",
        abstract: "One API write at a time, acknowledged by every agent: latency of the last agent and of each agent."
    )

    @Option(help: "Simulated agents.") var agents = 100
    @Option(help: "Sequential writes.") var writes = 50
    @OptionGroup var common: CommonOptions

    func validate() throws {
        try Limits.checkAgents(self.agents)
        guard (1...100_000).contains(self.writes) else {
            throw ValidationError("--writes must be between 1 and 100000")
        }
    }

    func run() async throws {
        self.common.report(try await Scenarios.fanout(agents: self.agents, writes: self.writes, options: self.common))
    }
}

struct ReconnectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconnect",
        abstract: "Restart the server under N synced agents: time until all are back in sync, resources resent (should be 0)."
    )

    @Option(help: "Simulated agents.") var agents = 100
    @Option(help: "ExternalServices every agent holds.") var resources = 10
    @Flag(help: "SIGKILL the server instead of SIGTERM (no DRAIN).") var kill = false
    @OptionGroup var common: CommonOptions

    func validate() throws {
        try Limits.checkAgents(self.agents)
        guard (0...100_000).contains(self.resources) else {
            throw ValidationError("--resources must be between 0 and 100000")
        }
        try self.common.requireOwnServer("reconnect")
    }

    func run() async throws {
        self.common.report(
            try await Scenarios.reconnect(agents: self.agents, resources: self.resources, useKill: self.kill, options: self.common)
        )
    }
}

struct MemoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Server RSS per idle session: (RSS with N sessions − RSS with none) / N."
    )

    @Option(help: "Simulated agents.") var agents = 1000
    @Option(help: "ExternalServices every agent holds.") var resources = 10
    @Option(help: "Seconds to let the server settle before each RSS sample.") var settle: Double = 3
    @OptionGroup var common: CommonOptions

    func validate() throws {
        try Limits.checkAgents(self.agents)
        guard (0...100_000).contains(self.resources) else {
            throw ValidationError("--resources must be between 0 and 100000")
        }
        guard (0...600).contains(self.settle) else {
            throw ValidationError("--settle must be between 0 and 600 seconds")
        }
        try self.common.requireOwnServer("memory")
    }

    func run() async throws {
        self.common.report(
            try await Scenarios.memory(
                agents: self.agents, resources: self.resources, settle: .milliseconds(Int64(self.settle * 1000)), options: self.common
            )
        )
    }
}

struct InitialSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initial-sync",
        abstract: "R ExternalServices stored, then N agents connect at once: time until all acknowledged, bytes sent."
    )

    @Option(help: "Simulated agents.") var agents = 100
    @Option(help: "ExternalServices stored before the agents connect.") var resources = 10_000
    @OptionGroup var common: CommonOptions

    func validate() throws {
        try Limits.checkAgents(self.agents)
        guard (1...200_000).contains(self.resources) else {
            throw ValidationError("--resources must be between 1 and 200000")
        }
    }

    func run() async throws {
        self.common.report(try await Scenarios.initialSync(agents: self.agents, resources: self.resources, options: self.common))
    }
}

struct ChurnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "churn",
        abstract: "Writes at a fixed rate for S seconds with N agents: lag distribution, server CPU and RSS."
    )

    @Option(help: "Simulated agents.") var agents = 500
    @Option(help: "Writes per second.") var rate: Double = 200
    @Option(help: "Duration of the write phase in seconds.") var seconds: Double = 60
    @OptionGroup var common: CommonOptions

    func validate() throws {
        try Limits.checkAgents(self.agents)
        guard self.rate > 0, self.rate <= 10_000 else {
            throw ValidationError("--rate must be between 0 and 10000 writes per second")
        }
        guard self.seconds > 0, self.seconds <= 3600 else {
            throw ValidationError("--seconds must be between 0 and 3600")
        }
        guard self.rate * self.seconds >= 1 else {
            throw ValidationError("--rate × --seconds must be at least one write")
        }
    }

    func run() async throws {
        self.common.report(
            try await Scenarios.churn(agents: self.agents, rate: self.rate, seconds: self.seconds, options: self.common)
        )
    }
}

struct EtcdFanoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etcd-fanout",
        abstract: "The fanout shape against a running etcd (scripts/bench-etcd.sh starts one): N watchers, W puts.",
        discussion: """
            N watch streams through etcd's JSON gateway (POST /v3/watch), one TLS connection each, on one event loop \
            group as the simulated agents of `fanout`; W puts, one at a time, each waited for until every watcher saw its \
            revision. The JSON has the keys of `fanout` ("scenario":"etcd-fanout").
            """
    )

    @Option(help: "etcd's client URL, https://HOST:PORT.") var endpoint: String
    @Option(help: "The CA that signed etcd's certificate.") var ca: String
    @Option(help: "The client certificate (PEM).") var cert: String
    @Option(help: "The client key (PEM).") var key: String
    @Option(help: "Watchers.") var watchers = 100
    @Option(help: "Sequential puts.") var writes = 50
    @Option(help: "Bound in seconds of every wait.") var timeout: Double = 120
    @Option(help: "Event loop threads of the watchers (default: the number of cores).") var threads: Int?
    @Flag(help: "Print the result as one JSON object on the last line of standard output.") var json = false

    func validate() throws {
        try Limits.checkAgents(self.watchers)
        guard (1...100_000).contains(self.writes) else { throw ValidationError("--writes must be between 1 and 100000") }
        guard self.timeout > 0, self.timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds") }
        guard self.endpoint.hasPrefix("https://") else { throw ValidationError("--endpoint must be https://HOST:PORT (etcd with TLS)") }
        do {
            _ = try CommonOptions.hostAndPort(String(self.endpoint.dropFirst("https://".count)))
        } catch {
            throw ValidationError("--endpoint: \(error)")
        }
    }

    func run() async throws {
        let (host, port) = try CommonOptions.hostAndPort(String(self.endpoint.dropFirst("https://".count)))
        let context = try EtcdScenario.sslContext(ca: self.ca, certificate: self.cert, key: self.key)
        let result = try await EtcdScenario.run(
            endpoint: .init(host: host, port: port, sslContext: context), watchers: self.watchers, writes: self.writes, threads: self.threads,
            timeout: .milliseconds(Int64(self.timeout * 1000))
        )
        var options = CommonOptions()
        options.json = self.json
        options.report(result)
    }
}

struct FloorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor",
        abstract: "The fanout shape against a trivial TLS broadcast server (no store, no logic): the transport's floor."
    )

    @Option(help: "Subscribers.") var agents = 100
    @Option(help: "Sequential writes.") var writes = 50
    @Option(help: "Bound in seconds of every wait.") var timeout: Double = 120
    @Option(help: "Event loop threads of the subscribers (default: the number of cores).") var threads: Int?
    @Flag(help: "Print the result as one JSON object on the last line of standard output.") var json = false

    func validate() throws {
        try Limits.checkAgents(self.agents)
        guard (1...100_000).contains(self.writes) else { throw ValidationError("--writes must be between 1 and 100000") }
        guard self.timeout > 0, self.timeout <= 86_400 else { throw ValidationError("--timeout must be between 0 and 86400 seconds") }
    }

    func run() async throws {
        let result = try await FloorScenario.run(
            agents: self.agents, writes: self.writes, threads: self.threads, timeout: .milliseconds(Int64(self.timeout * 1000))
        )
        var options = CommonOptions()
        options.json = self.json
        options.report(result)
    }
}

struct FloorServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor-server",
        abstract: "The broadcast server of `floor` (started by it).",
        shouldDisplay: false
    )

    @Option(help: "Port on 127.0.0.1.") var port: Int
    @Option(name: .customLong("certs-dir"), help: "ca.crt, server.crt, server.key.") var certsDir: String

    func run() async throws {
        try await FloorServer.run(port: self.port, certificatesDirectory: self.certsDir)
    }
}
