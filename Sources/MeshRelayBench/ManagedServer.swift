import Foundation

/// A `meshrelay server` child process on loopback that the harness starts, restarts on the same
/// ports and data directory, and always stops.
///
/// Used from one task at a time (the scenario's).
final class ManagedServer {
    let binary: String
    let dataDirectory: String
    let certificatesDirectory: String
    let apiPort: Int
    let relayPort: Int
    let logLevel: String
    let heartbeatInterval: Double?
    let logPath: String
    private var process: Process?

    init(
        binary: String,
        dataDirectory: String,
        certificatesDirectory: String,
        apiPort: Int,
        relayPort: Int,
        logLevel: String,
        heartbeatInterval: Double?,
        logPath: String
    ) {
        self.binary = binary
        self.dataDirectory = dataDirectory
        self.certificatesDirectory = certificatesDirectory
        self.apiPort = apiPort
        self.relayPort = relayPort
        self.logLevel = logLevel
        self.heartbeatInterval = heartbeatInterval
        self.logPath = logPath
    }

    var apiURL: String { "http://127.0.0.1:\(self.apiPort)" }
    var tokenFile: String { self.dataDirectory + "/admin.token" }

    /// The running server's process ID.
    var pid: Int32? {
        guard let process = self.process, process.isRunning else {
            return nil
        }
        return process.processIdentifier
    }

    /// Starts the server and waits (bounded) until `/readyz` answers 200.
    func start(timeout: Duration) async throws {
        guard self.process == nil else {
            throw BenchError("the server is already running")
        }
        if !FileManager.default.fileExists(atPath: self.logPath) {
            _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        }
        guard let log = FileHandle(forWritingAtPath: self.logPath) else {
            throw BenchError("cannot open the server log \(self.logPath)")
        }
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.binary)
        var arguments = [
            "server", "--data-dir", self.dataDirectory,
            "--api-listen", "127.0.0.1:\(self.apiPort)",
            "--relay-listen", "127.0.0.1:\(self.relayPort)",
            "--certs-dir", self.certificatesDirectory,
            "--log-level", self.logLevel,
            // Every simulated agent connects from 127.0.0.1: the per-source limit (256 by default)
            // would refuse all but the first 256.
            "--max-connections-per-source", "100000",
        ]
        if let heartbeatInterval = self.heartbeatInterval {
            arguments += ["--heartbeat-interval", String(heartbeatInterval)]
        }
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        self.process = process
        ServerCleanup.running.withLock { $0.insert(process.processIdentifier) }

        let client = try BenchHTTPClient(url: self.apiURL, token: nil, timeout: .seconds(2))
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                self.process = nil
                throw BenchError("meshrelay server exited with status \(process.terminationStatus); see \(self.logPath):\n\(self.logTail())")
            }
            if let reply = try? await client.get("/readyz"), reply.status == 200 {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        await self.stop(kill: true)
        throw BenchError("meshrelay server was not ready within \(timeout); see \(self.logPath):\n\(self.logTail())")
    }

    /// Stops the server: SIGTERM (graceful: it drains the agents' sessions) or SIGKILL, then waits
    /// for it to exit; a server still running 30 s after SIGTERM is killed.
    func stop(kill useKill: Bool) async {
        guard let process = self.process else {
            return
        }
        self.process = nil
        defer {
            ServerCleanup.running.withLock { _ = $0.remove(process.processIdentifier) }
        }
        guard process.isRunning else {
            return
        }
        kill(process.processIdentifier, useKill ? SIGKILL : SIGTERM)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    /// The last lines of the server's log.
    func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: self.logPath, encoding: .utf8) else {
            return ""
        }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// Stops the servers still running when the harness itself is interrupted (SIGINT, SIGTERM).
enum ServerCleanup {
    /// Process IDs of the servers (and real agents) started and not yet stopped.
    static let running = Locked<Set<Int32>>([])
    /// Temp folders not yet removed.
    static let workDirectories = Locked<Set<String>>([])

    /// Installs handlers of SIGINT and SIGTERM that stop the running servers and agents and
    /// exit with 128 + the signal.
    static func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                // SIGTERM first (an agent stops its Envoy on it), SIGKILL what is left after 5 s.
                let pids = self.running.value
                for pid in pids { kill(pid, SIGTERM) }
                var waiting = Set(pids)
                for _ in 0..<500 where !waiting.isEmpty {
                    var status: Int32 = 0
                    waiting = waiting.filter { waitpid($0, &status, WNOHANG) == 0 }
                    usleep(10_000)
                }
                for pid in waiting {
                    kill(pid, SIGKILL)
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                }
                for directory in self.workDirectories.value {
                    try? FileManager.default.removeItem(atPath: directory)
                }
                exit(128 + signalNumber)
            }
            source.resume()
            self.sources.withLock { $0.append(SignalSource(source: source)) }
        }
    }

    /// Keeps the signal sources alive.
    private static let sources = Locked<[SignalSource]>([])

    private struct SignalSource: @unchecked Sendable {
        let source: any DispatchSourceSignal
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
func freeLoopbackPort() throws -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else {
        throw BenchError("socket() failed")
    }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else {
        throw BenchError("bind() on 127.0.0.1 failed")
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    guard named == 0 else {
        throw BenchError("getsockname() failed")
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
