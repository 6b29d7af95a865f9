import Foundation
import MeshRelayTesting
import Testing

/// `apply -f` of a large file: progress and a rate on a terminal (a real pseudo-terminal from
/// util-linux `script`), nothing extra in a script.
@Suite("apply progress", .serialized)
struct ApplyProgressTests {
    @Test func aLargeApplyShowsProgressOnATerminalOnly() async throws {
        let base = try await CertifiedServer.start(registered: ["cluster-1"])
        defer { base.stop() }
        let server = base.server
        let manifest = base.directory + "/many.yaml"
        let count = 2_000
        try SeedManifests.stream((0..<count).map { SeedManifests.externalService(name: "svc-\($0)", host: "svc-\($0).example.com") })
            .write(toFile: manifest, atomically: true, encoding: .utf8)

        // A script: the per-resource lines on stdout, nothing on stderr.
        let quiet = try await runMeshrelay(["apply", "-f", manifest, "--api", server.url, "--token-file", server.tokenFile])
        #expect(quiet.exitCode == 0, "\(quiet.stderr)")
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        #expect(quiet.stdout.split(separator: "\n").count == count)

        // A terminal: the same lines, then the summary with the count and the rate.
        let command = [try meshrelayBinary(), "apply", "-f", manifest, "--api", server.url, "--token-file", server.tokenFile]
            .map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        process.standardInput = FileHandle.nullDevice
        let collected = OutputCollector(out.fileHandleForReading)
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let shown = collected.waitForEnd()
        #expect(process.terminationStatus == 0, "\(shown.suffix(2000))")
        #expect(
            shown.range(of: #"applied 2000 resources in [0-9.]+ s \([0-9]+/s\): 2000 unchanged"#, options: .regularExpression) != nil,
            "\(shown.suffix(2000))"
        )
        #expect(shown.contains("applying 2000 resources…") || shown.contains("applied 2000 resources"), "\(shown.suffix(500))")
    }
}
