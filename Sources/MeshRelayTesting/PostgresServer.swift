public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server for one test, on 127.0.0.1 in a temp dir (docs/drills.md;
/// ../shared/design/TOOLS.md §3): Debian's `initdb`/`pg_ctl`, run as the `postgres` user when the
/// tests run as root (initdb refuses root). The cluster is initialised once per test process
/// and copied for each server, so a server starts in well under a second. ``stop(mode:)`` must be
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
    public static func start(databases: [String] = ["meshrelay"]) throws -> PostgresServer {
        let bin = try binaries()
        let template = try templateCluster(bin: bin)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try run("/bin/cp", ["-a", template, directory + "/data"])
        try handToPostgres(directory)
        let server = PostgresServer(directory: directory, port: try freeLoopbackPort(), binDirectory: bin)
        do {
            try server.startProcess()
            for database in databases {
                try server.asPostgres(bin + "/createdb", ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", "postgres", database])
            }
        } catch {
            server.stop(mode: "immediate")
            throw error
        }
        return server
    }

    /// Starts the server on its data directory (after ``stop(mode:)`` or ``crash()``) and waits
    /// until it accepts connections.
    public func startProcess() throws {
        try asPostgres(
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
    public func stop(mode: String = "fast") {
        _ = try? asPostgres(binDirectory + "/pg_ctl", ["-D", dataDirectory, "-m", mode, "-w", "-t", "30", "stop"])
    }

    /// `stop(mode: "fast")`, then ``startProcess()``.
    public func restart() throws {
        stop(mode: "fast")
        try startProcess()
    }

    /// Stops the server and removes its directory.
    public func remove() {
        stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The server's log.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    private func asPostgres(_ executable: String, _ arguments: [String]) throws {
        try Self.asPostgres(executable, arguments)
    }

    // MARK: - Process plumbing

    private static let template = Mutex<String?>(nil)

    /// `initdb` once per test process; later servers copy its data directory.
    private static func templateCluster(bin: String) throws -> String {
        try template.withLock { cached in
            if let cached { return cached }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-pg-template-\(getpid())").path
            try? FileManager.default.removeItem(atPath: directory)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try handToPostgres(directory)
            try asPostgres(bin + "/initdb", ["-D", directory + "/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            cached = directory + "/data"
            return directory + "/data"
        }
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
    private static func handToPostgres(_ directory: String) throws {
        guard isRoot else { return }
        try run("/bin/chown", ["-R", "postgres:", directory])
    }

    private static func asPostgres(_ executable: String, _ arguments: [String]) throws {
        if isRoot {
            try run("/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments)
        } else {
            try run(executable, arguments)
        }
    }

    /// Runs a command to its end and returns its output; throws on a non-zero exit.
    ///
    /// Not through Foundation's `Process`: `pg_ctl start` leaves the server running, and the server
    /// would inherit the descriptor `Process` watches for the child's exit (and any other
    /// descriptor of the test process). `posix_spawn` runs bash, which closes every descriptor
    /// above 2 before it execs the command; the exit is awaited with `waitpid`.
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-pg-cmd-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
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
            usleep(5_000)
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw HarnessFailure("\(executable) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }
}
