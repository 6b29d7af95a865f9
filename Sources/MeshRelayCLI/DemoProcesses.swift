import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A `meshrelay server` or `meshrelay agent` started by the demo, its output in a log file.
final class DemoChild: Sendable {
    let name: String
    let logPath: String
    private let process: Process

    init(name: String, executable: String, arguments: [String], logPath: String) throws(CLIError) {
        self.name = name
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw .refused("meshrelay demo: cannot write \(logPath)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw .refused("meshrelay demo: cannot start \(name) (\(executable)): \(error.localizedDescription)")
        }
        self.process = process
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// The last `lines` lines of its log (shown when a step fails).
    func logTail(_ lines: Int = 15) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).map { "      | \($0)" }.joined(separator: "\n")
    }

    /// SIGKILL, and waits for the exit.
    func kill9() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        waitForExit(seconds: 10)
    }

    /// SIGTERM (graceful: an agent stops its Envoy), SIGKILL after `grace` seconds.
    func stop(grace: Double = 10) {
        guard process.isRunning else { return }
        process.terminate()
        if !waitForExit(seconds: grace) {
            kill(process.processIdentifier, SIGKILL)
            waitForExit(seconds: 5)
        }
    }

    @discardableResult
    private func waitForExit(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }
}

/// Every child the demo started, so that a failure, SIGINT or SIGTERM stops them all.
final class DemoChildren: Sendable {
    private struct State {
        var children: [DemoChild] = []
        /// `stopAll()` ran: the demo is stopping, nothing new may run.
        var closed = false
        /// The first `stopAll()` has stopped every child.
        var finished = false
    }

    private let state = Mutex(State())

    /// Tracks a started child. Once the demo is stopping (a signal handler's `stopAll()` runs
    /// while the steps go on), the child is stopped at once and the step fails: a child started
    /// then would otherwise outlive the demo.
    func add(_ child: DemoChild) throws(CLIError) {
        let closed = state.withLock { state -> Bool in
            if !state.closed { state.children.append(child) }
            return state.closed
        }
        guard closed else { return }
        child.stop()
        throw .refused("meshrelay demo: stopping; \(child.name) was not kept")
    }

    func remove(_ child: DemoChild) { state.withLock { $0.children.removeAll { $0 === child } } }

    /// The demo is stopping (a signal, or the end): `add` refuses.
    var isClosed: Bool { state.withLock { $0.closed } }

    /// Stops agents first (each stops its Envoy), then the server; afterwards `add` stops what it
    /// is given. A second caller (the steps failing because a signal's clean-up runs) waits until
    /// the first has stopped everything, so that nobody exits with children still running.
    func stopAll() {
        let (all, first) = state.withLock { state -> ([DemoChild], Bool) in
            guard !state.closed else { return ([], false) }
            state.closed = true
            defer { state.children.removeAll() }
            return (state.children, true)
        }
        guard first else {
            // Each child takes at most 15 s to stop (SIGTERM, then SIGKILL); bounded anyway.
            let deadline = Date().addingTimeInterval(180)
            while !state.withLock({ $0.finished }) && Date() < deadline { usleep(20_000) }
            return
        }
        for child in all.reversed() { child.stop() }
        state.withLock { $0.finished = true }
    }
}

/// This executable's path, to start `meshrelay server` and `meshrelay agent` children.
func currentExecutable() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// A free TCP port on `host` (bound then released; the child binds it right after).
func freePort(host: String = "127.0.0.1") throws(CLIError) -> Int {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw .refused("meshrelay demo: cannot open a socket: \(String(cString: strerror(errno)))") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    inet_pton(AF_INET, host, &address.sin_addr)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw .refused("meshrelay demo: cannot bind \(host):0: \(String(cString: strerror(errno)))") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
