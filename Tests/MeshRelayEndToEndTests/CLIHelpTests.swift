import Testing

/// `--help` and `help VERB` print the help (they printed nothing, exit 0, found while writing the
/// Helm charts), and a wrong verb is a usage error.
@Suite struct CLIHelpTests {
    @Test(arguments: [
        (["--help"], ["SUBCOMMANDS:", "check", "status", "agent"]),
        (["help", "agent"], ["--metrics-listen", "--renew-min-interval", "--bootstrap-token-file"]),
        (["check", "--help"], ["--max-lag", "--cert-days"]),
        (["server", "--help"], ["--enroll-listen", "--max-connections-per-source"]),
    ])
    func helpIsPrinted(arguments: [String], expected: [String]) async throws {
        let result = try await runMeshrelay(arguments)
        #expect(result.exitCode == 0)
        for text in expected {
            #expect(result.stdout.contains(text), "\(arguments): \(result.stdout.prefix(400))")
        }
    }

    @Test func anUnknownVerbIsAUsageError() async throws {
        let result = try await runMeshrelay(["bogus"])
        #expect(result.exitCode == 2 && result.stderr.contains("Unexpected argument 'bogus'"), "\(result.stderr)")
    }
}
