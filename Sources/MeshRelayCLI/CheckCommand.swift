import ArgumentParser
import Foundation
import MeshRelayServer

/// `meshrelay check`: like `meshctl check`, one line per check, exit 0 only when all pass.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the management plane: server, store, agents, lag, failed resources, warnings, certificates.",
        discussion: "Exit code 0 when every check passes, 1 when any fails (including an unreachable server). -o json for scripts."
    )

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: CheckFormat = .text

    enum CheckFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    @Option(name: .customLong("max-lag"), help: "Revisions a connected cluster may trail the store by.")
    var maxLag: Int64 = 100

    @Option(name: .customLong("max-pending"), help: "Seconds a resource may wait for a connected cluster to apply it.")
    var maxPending: Double = 60

    @Option(name: .customLong("cert-days"), help: "Certificates must stay valid at least this many more days.")
    var certDays = 30

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if maxLag < 0 { throw ValidationError("--max-lag must be 0 or more") }
        if maxPending < 0 { throw ValidationError("--max-pending must be 0 or more") }
        if certDays < 0 { throw ValidationError("--cert-days must be 0 or more") }
    }

    func run() async throws {
        let results = await Self.results(
            api: try client.client(), limits: .init(maximumLagRevisions: maxLag, maximumPendingSeconds: maxPending, certificateDays: certDays)
        )
        switch output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let document = CheckDocument(passed: results.allSatisfy(\.passed), checks: results)
            // Written at once (not buffered), so that it comes before the error line on stderr.
            FileHandle.standardOutput.write(try encoder.encode(document) + Data("\n".utf8))
        case .text:
            FileHandle.standardOutput.write(Data((Self.render(results, symbols: isatty(STDOUT_FILENO) == 1) + "\n").utf8))
        }
        let failed = results.filter { !$0.passed }.count
        if failed > 0 { throw CLIError.refused("meshrelay check: \(failed) of \(results.count) checks failed") }
    }

    /// `-o json`: the documented shape (docs/api.md).
    struct CheckDocument: Encodable {
        var passed: Bool
        var checks: [StatusChecks.Result]
    }

    static func results(api: APIClient, limits: StatusChecks.Limits) async -> [StatusChecks.Result] {
        let report: StatusReport
        do {
            let reply = try await api.send(.GET, "/api/v1/status")
            guard reply.status == 200 else { return StatusChecks.unreachable("GET /api/v1/status answered \(reply.status): \(reply.text.prefix(300))") }
            report = try decode(StatusReport.self, from: reply)
        } catch {
            return StatusChecks.unreachable("\(error)")
        }
        var storeProblem: String?
        do {
            let ready = try await api.send(.GET, "/readyz", accept: "text/plain")
            if ready.status != 200 { storeProblem = ready.text.trimmingCharacters(in: .whitespacesAndNewlines) }
        } catch {
            storeProblem = "GET /readyz failed: \(error)"
        }
        return StatusChecks.evaluate(report: report, storeProblem: storeProblem, limits: limits, now: Date())
    }

    /// `✓ title` / `✗ title` with the details indented below; `[ok]`/`[FAIL]` without a terminal.
    static func render(_ results: [StatusChecks.Result], symbols: Bool) -> String {
        var lines: [String] = []
        for result in results {
            let mark = symbols ? (result.passed ? "✓" : "✗") : (result.passed ? "[ok]  " : "[FAIL]")
            lines.append("\(mark) \(result.title)")
            if !result.passed || result.name == "server" {
                lines += result.details.map { "    \($0)" }
            }
        }
        let failed = results.filter { !$0.passed }.count
        lines.append(failed == 0 ? "All \(results.count) checks passed." : "\(failed) of \(results.count) checks failed.")
        return lines.joined(separator: "\n")
    }
}
