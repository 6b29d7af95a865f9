import Foundation
import Logging
import MeshRelayProtocol
import Synchronization

/// Runs Envoy (`envoy -c bootstrap.json --concurrency 1 --use-dynamic-base-id`), forwards its
/// warnings and errors to the agent's log, remembers the rejections it logs (for NACK messages),
/// and restarts it with exponential backoff (full jitter, 200 ms to 10 s) when it exits while the
/// agent runs. ``stop()`` sends SIGTERM, then SIGKILL after 5 s.
final class EnvoySupervisor: Sendable {
    private let executable: String
    private let bootstrapPath: String
    private let logger: Logger

    private struct State {
        var stopping = false
        var process: Process?
        /// Every "config update rejected" message Envoy logged, in order (the last 64).
        var rejections: [String] = []
        var rejectionCount = 0
        var restarts = 0
    }

    private let state = Mutex(State())

    init(executable: String, bootstrapPath: String, logger: Logger) {
        self.executable = executable
        self.bootstrapPath = bootstrapPath
        var logger = logger
        logger[metadataKey: "envoy.executable"] = "\(executable)"
        self.logger = logger
    }

    /// How many rejections Envoy logged so far.
    var rejectionCount: Int { state.withLock { $0.rejectionCount } }

    /// The first rejection message logged after the first `count` ones, if any.
    func rejection(after count: Int) -> String? {
        state.withLock { state in
            guard state.rejectionCount > count else { return nil }
            let index = state.rejections.count - (state.rejectionCount - count)
            return state.rejections.indices.contains(index) ? state.rejections[index] : state.rejections.last
        }
    }

    /// How many times Envoy was restarted after it exited.
    var restartCount: Int { state.withLock { $0.restarts } }

    /// Whether Envoy is running now.
    var isRunning: Bool { state.withLock { $0.process?.isRunning ?? false } }

    func run() async {
        var backoff = ReconnectBackoff(base: .milliseconds(200), cap: .seconds(10))
        while !state.withLock({ $0.stopping }) {
            let started = ContinuousClock.now
            guard let process = start() else {
                await pause(backoff.nextDelay())
                continue
            }
            while process.isRunning {
                try? await Task.sleep(for: .milliseconds(50))
            }
            let stopping = state.withLock { state -> Bool in
                state.process = nil
                return state.stopping
            }
            if stopping { break }
            if ContinuousClock.now - started > .seconds(30) {
                backoff.reset()
            }
            let delay = backoff.nextDelay()
            state.withLock { $0.restarts += 1 }
            logger.error(
                "Envoy exited; restarting it",
                metadata: ["envoy.status": "\(process.terminationStatus)", "envoy.restart_in": "\(delay)"]
            )
            await pause(delay)
        }
    }

    func stop() {
        let process = state.withLock { state -> Process? in
            state.stopping = true
            return state.process
        }
        guard let process, process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
    }

    private func pause(_ delay: Duration) async {
        let deadline = ContinuousClock.now + delay
        while ContinuousClock.now < deadline && !state.withLock({ $0.stopping }) {
            try? await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
    }

    /// Where the running Envoy's PID is kept: next to the bootstrap.
    private var pidPath: String { URL(fileURLWithPath: bootstrapPath).deletingLastPathComponent().appendingPathComponent("envoy.pid").path }

    /// An agent killed with SIGKILL leaves its Envoy running (an orphan holding the ports and
    /// watching the same files): stop it, if the recorded PID still runs Envoy on this bootstrap,
    /// so that the Envoy started next can bind and is supervised.
    private func stopLeftover() {
        guard let text = try? String(contentsOfFile: pidPath, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            pid > 1, let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
            String(decoding: command, as: UTF8.self).contains(bootstrapPath)
        else { return }
        logger.notice("stopping an Envoy left running by a previous agent process", metadata: ["envoy.pid": "\(pid)"])
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while Self.isAlive(pid) && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        if Self.isAlive(pid) { kill(pid, SIGKILL) }
    }

    /// Whether `pid` runs and is not a zombie waiting for a reaper (an orphan's parent is
    /// whoever adopted it, who may never reap).
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return false }
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return false }
        return !text[text.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    private func start() -> Process? {
        stopLeftover()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", bootstrapPath, "--concurrency", "1", "--use-dynamic-base-id", "--log-level", "info"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let handle = errors.fileHandleForReading
        do {
            let stopping = try state.withLock { state -> Bool in
                guard !state.stopping else { return true }
                try process.run()
                state.process = process
                return false
            }
            if stopping { return nil }
        } catch {
            logger.error("cannot start Envoy", metadata: ["agent.error": "\(error)"])
            return nil
        }
        logger.info("Envoy started", metadata: ["envoy.pid": "\(process.processIdentifier)"])
        try? "\(process.processIdentifier)\n".write(toFile: pidPath, atomically: true, encoding: .utf8)
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    self.observe(line)
                }
            }
        }
        return process
    }

    /// One line of Envoy's log: rejections are remembered, warnings and errors forwarded.
    private func observe(_ line: String) {
        if let range = line.range(of: "update rejected: ") {
            let message = String(line[range.upperBound...])
            state.withLock { state in
                state.rejections.append(message)
                state.rejectionCount += 1
                if state.rejections.count > 64 { state.rejections.removeFirst(state.rejections.count - 64) }
            }
        }
        if line.contains("][warning][") || line.contains("][error][") || line.contains("][critical][") {
            // Envoy's own advice about connection limits is noise for an egress gateway.
            guard !line.contains("no configured limit to the number of allowed active downstream connections") else { return }
            logger.warning("envoy: \(line.split(separator: "]", maxSplits: 4).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? line)")
        }
    }
}
