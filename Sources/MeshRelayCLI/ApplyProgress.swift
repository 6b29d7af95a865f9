import Foundation
import Synchronization

/// `apply` progress on a terminal (stderr): `applying 10000 resources… 1.2 s` while the server
/// works (one request: apply stays all or nothing), then `applied 10000 resources in 2.31 s
/// (4329/s): 9998 created, 2 configured`. Never used when stderr is not a terminal.
final class ApplyProgress: Sendable {
    let expected: Int?
    private let started = ContinuousClock.now
    /// The ticker stops drawing.
    private let ticking = Mutex(true)
    /// ``finish(_:)`` ran.
    private let finished = Mutex(false)

    init(expected: Int?) {
        self.expected = expected
    }

    /// Resources in manifest text, counted by their top-level `kind:` lines (YAML); nil when
    /// there are none to count (JSON input).
    static func documentCount(_ text: String) -> Int? {
        var count = 0
        text.enumerateLines { line, _ in
            if line.hasPrefix("kind:") { count += 1 }
        }
        return count > 0 ? count : nil
    }

    private var what: String { expected.map { "\($0) resource\($0 == 1 ? "" : "s")" } ?? "resources" }

    private func elapsed() -> Double {
        let duration = ContinuousClock.now - started
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Redraws the line every 100 ms until ``finish(_:)``.
    func tick() async {
        let frames = ["|", "/", "-", "\\"]
        var frame = 0
        while ticking.withLock({ $0 }) {
            write("\r\u{1B}[K\(frames[frame % frames.count]) applying \(what)… \(String(format: "%.1f", elapsed())) s")
            frame += 1
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Removes the progress line (before other output goes to the terminal).
    func clearLine() {
        write("\r\u{1B}[K")
    }

    func stopTicking() {
        ticking.withLock { $0 = false }
    }

    /// Clears the progress line; with the server's actions, prints the summary with the rate.
    /// Call after the ticker stopped (``Optional/withTicker(_:)`` waits for it).
    func finish(_ actions: [String]?) {
        let first = finished.withLock { finished -> Bool in
            defer { finished = true }
            return !finished
        }
        guard first else { return }
        write("\r\u{1B}[K")
        guard let actions else { return }
        let seconds = max(elapsed(), 0.001)
        var counts: [String: Int] = [:]
        for action in actions { counts[action, default: 0] += 1 }
        let parts = ["created", "configured", "unchanged"].compactMap { action in counts[action].map { "\($0) \(action)" } }
        write(
            "applied \(actions.count) resource\(actions.count == 1 ? "" : "s") in \(String(format: "%.2f", seconds)) s "
                + "(\(Int((Double(actions.count) / seconds).rounded()))/s): \(parts.joined(separator: ", "))\n"
        )
    }
}

extension Optional where Wrapped == ApplyProgress {
    /// Runs `body` with the ticker drawing meanwhile (nothing without a progress).
    func withTicker<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        guard let progress = self else { return try await body() }
        let ticker = Task { await progress.tick() }
        do {
            let result = try await body()
            progress.stopTicking()
            await ticker.value
            return result
        } catch {
            progress.stopTicking()
            await ticker.value
            throw error
        }
    }
}
