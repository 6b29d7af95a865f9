import Foundation
import MeshRelayTesting
import Testing

/// The status page at `/` in a real headless Chromium (apt-get install chromium): the DOM it
/// builds from `/api/v1/status` shows every resource × cluster state the API reports.
/// `MESHRELAY_UPDATE_SCREENSHOT=1` also writes docs/status-page.png.
@Suite("Status page in headless Chromium", .serialized)
struct StatusPageTests {
    static func chromium() throws -> String {
        for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw ProcessFailure("no headless browser: install Chromium (apt-get install chromium); .ci/run does")
    }

    /// Runs Chromium headless on `url` with `arguments` (`--dump-dom`, `--screenshot=…`), giving
    /// the page's scripts 10 s of virtual time; its stdout.
    static func browse(_ url: String, _ arguments: [String], profile: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try chromium())
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)", "--virtual-time-budget=10000",
            "--window-size=1200,640",
        ] + arguments + [url]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        let collected = OutputCollector(out.fileHandleForReading)
        try process.run()
        let deadline = Date().addingTimeInterval(90)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ProcessFailure("chromium did not finish within 90 s")
        }
        return collected.waitForEnd()
    }

    @Test func theMatrixInTheBrowserIsWhatTheAPIReports() async throws {
        let setup = try await TwoClusterStatus.start()
        defer { setup.stop() }
        let (base, server, agent) = (setup.base, setup.server, setup.agent)
        // cluster-1 applies both; cluster-2 has no agent, so both wait there.
        var report: [String: Any] = [:]
        #expect(
            await waitUntil(timeout: .seconds(60)) {
                guard let status = try? await runMeshrelay(["status", "-o", "json", "--api", server.url]),
                    let object = try? JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any],
                    let resources = object["resources"] as? [[String: Any]]
                else { return false }
                report = object
                let google = resources.first { $0["name"] as? String == "google" }
                let one = (google?["clusters"] as? [[String: Any]])?.first { $0["name"] as? String == "cluster-1" }
                return one?["state"] as? String == "APPLIED"
            },
            "agent log:\n\(agent.log.text)"
        )

        let profile = base.directory + "/chromium"
        let dom = try Self.browse(server.url + "/", ["--dump-dom"], profile: profile)
        #expect(dom.contains("<h1>meshrelay</h1>"), "\(dom.prefix(2000))")
        #expect(dom.contains("data-revision=\"\(report["revision"] ?? "?")\""), "the page rendered the status")
        // Every state the API reports is the state of its cell.
        var expected: [String: String] = [:]
        for resource in report["resources"] as? [[String: Any]] ?? [] where resource["kind"] as? String == "ExternalService" {
            let id = "\(resource["namespace"] ?? "")/\(resource["name"] ?? "")"
            for cluster in resource["clusters"] as? [[String: Any]] ?? [] {
                expected["\(id) \(cluster["name"] ?? "")"] = cluster["state"] as? String
            }
        }
        var shown: [String: String] = [:]
        let cells = try Regex(#"data-resource="([^"]+)" data-cluster="([^"]+)" data-state="([^"]+)""#)
        for match in dom.matches(of: cells) {
            guard let resource = match.output[1].substring, let cluster = match.output[2].substring, let state = match.output[3].substring else { continue }
            shown["\(resource) \(cluster)"] = String(state)
        }
        #expect(expected.count == 4, "\(expected)")
        #expect(shown == expected, "the page shows \(shown); the API says \(expected)")
        #expect(shown["global/google cluster-1"] == "APPLIED" && shown["global/google cluster-2"] == "PENDING")
        #expect(dom.contains(#"data-cluster="cluster-1" data-connected="true""#) && dom.contains(#"data-cluster="cluster-2" data-connected="false""#))

        // A screenshot (a real PNG), kept in docs/ on request.
        let png = base.directory + "/status-page.png"
        _ = try Self.browse(server.url + "/", ["--screenshot=\(png)"], profile: profile)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(bytes.count > 10_000 && bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(bytes.count) bytes")
        if ProcessInfo.processInfo.environment["MESHRELAY_UPDATE_SCREENSHOT"] == "1" {
            let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .appendingPathComponent("docs/status-page.png")
            try? FileManager.default.removeItem(at: docs)
            try bytes.write(to: docs)
        }
    }
}
