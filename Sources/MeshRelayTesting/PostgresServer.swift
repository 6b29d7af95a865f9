import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for one test, on 127.0.0.1 in a temp dir (docs/drills.md;
/// ../shared/design/TOOLS.md §3): Debian's `initdb`/`pg_ctl`, run as the `postgres` user when the
/// tests run as root (initdb refuses root). The cluster is initialised once (a template in the
/// temp dir, reused by later test processes) and copied for each server, so a server starts in
/// well under a second. ``stop(mode:)`` must be
/// called by the test (a `defer`); ``restart()`` and `stop(mode: "immediate")` (a crash) drive drills.
public final class PostgresServer: Sendable {
    public let directory: String
    public let port: Int
    public let binDirectory: String
    public var dataDirectory: String { directory + "/data" }
    public var logPath: String { directory + "/postgres.log" }

    /// `postgres://postgres@127.0.0.1:PORT/DATABASE?sslmode=disable`.
    public func url(database: String = "meshrelay") -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    private init(directory: String, port: Int, binDirectory: String) {
        self.directory = directory
        self.port = port
        self.binDirectory = binDirectory
    }

    /// A fresh cluster with an empty database `meshrelay`, started and accepting connections.
    public static func start(databases: [String] = ["meshrelay"]) async throws -> PostgresServer {
        let bin = try binaries()
        let template = try await templateCluster(bin: bin)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await run("/bin/cp", ["-a", template, directory + "/data"])
        try await handToPostgres(directory)
        let server = PostgresServer(directory: directory, port: try freeLoopbackPort(), binDirectory: bin)
        do {
            try await server.startProcess()
            for database in databases {
                try await asPostgres(bin + "/createdb", ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", "postgres", database])
            }
        } catch {
            server.stop(mode: "immediate")
            throw error
        }
        return server
    }

    /// Starts the server on its data directory (after ``stop(mode:)`` or ``crash()``) and waits
    /// until it accepts connections.
    public func startProcess() async throws {
        try await Self.asPostgres(
            binDirectory + "/pg_ctl",
            [
                "-D", dataDirectory, "-l", logPath, "-w", "-t", "60",
                "-o", "-h 127.0.0.1 -p \(port) -k \(directory) -c shared_buffers=16MB -c max_connections=200",
                "start",
            ]
        )
    }

    /// Stops the server: `fast` (disconnects clients, clean shutdown) or `immediate` (no
    /// checkpoint: crash recovery on the next start). Waits for the exit; never throws.
    /// (Blocking: it also runs from `defer`; a stop takes a fraction of a second.)
    public func stop(mode: String = "fast") {
        _ = try? Self.runBlocking(Self.postgresCommand(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", mode, "-w", "-t", "30", "stop"]))
    }

    /// Stops the server (`immediate`) and removes its directory, waiting without holding a thread
    /// of the concurrency pool: for tests that end many servers while others run.
    public func shutDown() async {
        let (command, arguments) = Self.postgresCommand(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", "immediate", "-w", "-t", "30", "stop"])
        _ = try? await Self.run(command, arguments)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops the server and removes its directory (blocking; for `defer`).
    public func remove() {
        stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The server's log.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    // MARK: - Process plumbing

    private static let template = Mutex<Task<String, any Error>?>(nil)

    /// `initdb` once per machine (per user and PostgreSQL build): the template lives in the temp
    /// dir under a stable name and later servers, of this test process or the next, copy its data
    /// directory. It is made under a unique name and renamed into place, so a concurrent test
    /// process never sees half a template.
    private static func templateCluster(bin: String) async throws -> String {
        let task = template.withLock { task in
            if let task { return task }
            let created = Task<String, any Error> {
                let temp = FileManager.default.temporaryDirectory
                let final = temp.appendingPathComponent("meshrelay-pg-template-\(getuid())-\(bin.replacingOccurrences(of: "/", with: "_"))").path
                if FileManager.default.fileExists(atPath: final + "/data/PG_VERSION") { return final + "/data" }
                let building = temp.appendingPathComponent("meshrelay-pg-template-building-\(getpid())-\(UUID().uuidString)").path
                try FileManager.default.createDirectory(atPath: building, withIntermediateDirectories: true)
                try await handToPostgres(building)
                try await asPostgres(bin + "/initdb", ["-D", building + "/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
                if rename(building, final) != 0 {
                    // Another test process finished first (or a stale, incomplete one is in the way).
                    try? FileManager.default.removeItem(atPath: building)
                    guard FileManager.default.fileExists(atPath: final + "/data/PG_VERSION") else {
                        throw HarnessFailure("cannot put the PostgreSQL template at \(final); remove that directory")
                    }
                }
                return final + "/data"
            }
            task = created
            return created
        }
        return try await task.value
    }

    /// The directory of `pg_ctl`, `initdb` and `createdb`: PATH, then Debian's
    /// /usr/lib/postgresql/VERSION/bin (newest).
    static func binaries() throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/pg_ctl"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath().deletingLastPathComponent().path
                if FileManager.default.isExecutableFile(atPath: resolved + "/initdb") { return resolved }
            }
        }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted()
        if let newest = versions.last {
            return "/usr/lib/postgresql/\(newest)/bin"
        }
        throw HarnessFailure("PostgreSQL is not installed: install Debian's postgresql package (apt-get install postgresql), which .ci/run does")
    }

    private static var isRoot: Bool { getuid() == 0 }

    /// Makes `directory` the `postgres` user's when running as root.
    private static func handToPostgres(_ directory: String) async throws {
        guard isRoot else { return }
        try await run("/bin/chown", ["-R", "postgres:", directory])
    }

    /// The command line running `executable` as the `postgres` user when the tests run as root.
    private static func postgresCommand(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        isRoot ? ("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments) : (executable, arguments)
    }

    private static func asPostgres(_ executable: String, _ arguments: [String]) async throws {
        let (command, all) = postgresCommand(executable, arguments)
        try await run(command, all)
    }

    /// ``run(_:_:)`` waiting without a task: for `defer`.
    private static func runBlocking(_ command: (String, [String])) throws {
        let (pid, outputPath) = try spawn(command.0, command.1)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(60)
        while waitpid(pid, &status, WNOHANG) != pid {
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return
            }
            usleep(5_000)
        }
    }

    /// Runs a command to its end and returns its output; throws on a non-zero exit.
    ///
    /// Not through Foundation's `Process`: `pg_ctl start` leaves the server running, and the server
    /// would inherit the descriptor `Process` watches for the child's exit (and any other
    /// descriptor of the test process). `posix_spawn` runs bash, which closes every descriptor
    /// above 2 before it execs the command; the exit is awaited with `waitpid`.
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let (pid, outputPath) = try spawn(executable, arguments)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(120)
        while true {
            let waited = waitpid(pid, &status, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR { throw HarnessFailure("waiting for \(executable) failed: \(String(cString: strerror(errno)))") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw HarnessFailure("\(executable) \(arguments.joined(separator: " ")) did not finish within 120 s")
            }
            // Waits without holding a thread of the concurrency pool (2 on this machine).
            try? await Task.sleep(for: .milliseconds(5))
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw HarnessFailure("\(executable) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    /// Starts `executable` through bash (see ``run(_:_:)``); returns its PID and output file.
    private static func spawn(_ executable: String, _ arguments: [String]) throws -> (pid_t, String) {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-pg-cmd-\(UUID().uuidString).log").path
        let script = #"cd /tmp; for f in /proc/$$/fd/*; do n=${f##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-"; fi; done 2>/dev/null; exec "$@""#
        let argv = ["/bin/bash", "-c", script, "meshrelay-pg", executable] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, "/bin/bash", &actions, nil, cArguments, environ)
        guard spawned == 0 else {
            throw HarnessFailure("cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        return (pid, outputPath)
    }
}
