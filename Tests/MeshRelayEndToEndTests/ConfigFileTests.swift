import Foundation
import MeshRelayTesting
import Testing

/// `meshrelay server|agent --config FILE [--dry-run]`: the file the Helm charts' ConfigMaps carry.
@Suite("Configuration files", .serialized)
struct ConfigFileTests {
    static func write(_ text: String) throws -> String {
        let path = temporaryDirectory() + ".yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The option names `VERB --help` lists.
    static func options(_ verb: String) async throws -> Set<String> {
        let help = try await runMeshrelay([verb, "--help"]).stdout
        // Option definitions start their line; mentions inside descriptions do not count.
        let names = help.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.drop { $0 == " " }
            guard trimmed.hasPrefix("--") else { return nil }
            return String(trimmed.dropFirst(2).prefix { $0.isLetter || $0.isNumber || $0 == "-" })
        }
        return Set(names).subtracting(["help", "config", "dry-run", "version"])
    }

    @Test func aServerFileIsCheckedPrintedAndReadBackAndTheCommandLineWins() async throws {
        let file = try Self.write(
            """
            data-dir: /var/lib/meshrelay
            api-listen: 0.0.0.0:9091
            relay-listen: "0.0.0.0:9900"
            certs-dir: /etc/meshrelay/certs
            enroll-listen: 0.0.0.0:9901
            api-tls: false
            heartbeat-interval: 5
            log-format: json
            """
        )
        defer { try? FileManager.default.removeItem(atPath: file) }
        let dry = try await runMeshrelay(["server", "--config", file, "--dry-run"])
        #expect(dry.exitCode == 0, "\(dry.stderr)")
        for line in ["data-dir: /var/lib/meshrelay", #"relay-listen: "0.0.0.0:9900""#, "heartbeat-interval: 5.0", "log-format: json", "agent-cert-days: 90"] {
            #expect(dry.stdout.contains(line), "\(line) in\n\(dry.stdout)")
        }
        // Every option of the verb is in the effective settings (so a file can set each).
        let printed = Set(dry.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: ":").first.map(String.init) })
        let missing = try await Self.options("server").subtracting(printed)
        #expect(missing == ["token-file", "store-password-file", "replica-id"], "not printed: \(missing) (these are unset here)")

        // What it prints is itself a valid file with the same meaning.
        let again = try Self.write(dry.stdout)
        defer { try? FileManager.default.removeItem(atPath: again) }
        let reread = try await runMeshrelay(["server", "--config", again, "--dry-run"])
        #expect(reread.stdout == dry.stdout, "\(reread.stdout)")

        let overridden = try await runMeshrelay(["server", "--config", file, "--dry-run", "--heartbeat-interval", "2"])
        #expect(overridden.stdout.contains("heartbeat-interval: 2.0"), "\(overridden.stdout)")
    }

    @Test(arguments: [
        ("relay-lsten: 1.2.3.4:5\n", "Unknown option '--relay-lsten'. Did you mean '--relay-listen'?"),
        ("heartbeat-interval: fast\n", "The value 'fast' is invalid for '--heartbeat-interval"),
        ("heartbeat-interval: 0\n", "--heartbeat-interval must be between 0.05 and 3600 seconds"),
        ("- data-dir\n", "a mapping of settings expected"),
        ("data-dir: {nested: 1}\n", "`data-dir` must be a string, a number, true/false or a list of those"),
    ])
    func wrongFilesAreUsageErrorsThatSayWhy(text: String, message: String) async throws {
        let file = try Self.write(text)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await runMeshrelay(["server", "--config", file, "--dry-run"])
        #expect(result.exitCode == 2, "\(result.stdout)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }

    @Test func anAgentFileWithAListOfServers() async throws {
        let file = try Self.write(
            """
            cluster: cluster-1
            server: [relay-a.example:9900, relay-b.example:9900]
            certs-dir: /etc/meshrelay/certs
            envoy-config-dir: /var/run/meshrelay/envoy
            envoy: /usr/local/bin/envoy
            metrics-listen: 0.0.0.0:9092
            outbound-policy: ALLOW_ANY
            """
        )
        defer { try? FileManager.default.removeItem(atPath: file) }
        let dry = try await runMeshrelay(["agent", "--config", file, "--dry-run"])
        #expect(dry.exitCode == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains(#"server: "relay-a.example:9900,relay-b.example:9900""#) && dry.stdout.contains("outbound-policy: ALLOW_ANY"), "\(dry.stdout)")
        let printed = Set(dry.stdout.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { $0.split(separator: ":").first.map(String.init) })
        let unset: Set<String> = ["bootstrap-token-file", "ca-file", "enroll-server", "state-dir", "egress-tls-listen", "istio-dir"]
        #expect(try await Self.options("agent").subtracting(printed).subtracting(unset).isEmpty)
        let policy = try await runMeshrelay(["agent", "--config", file, "--dry-run", "--outbound-policy", "BLOCK"])
        #expect(policy.exitCode == 2 && policy.stderr.contains("--outbound-policy must be REGISTRY_ONLY or ALLOW_ANY"), "\(policy.stderr)")
    }

    @Test func aServerStartsFromAFile() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = try Self.write("log-level: debug\nmax-body-bytes: 4096\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let server = try await ServerProcess(dataDirectory: directory + "/data", extraArguments: ["--config", file])
        defer { _ = server.terminate() }
        // The file's body limit is in force: a 5 KiB body is refused.
        let body = String(repeating: "#", count: 5000)
        let token = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let answer = exchange(
            port: server.port,
            "POST /api/v1/apply HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        ) ?? ""
        #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer.prefix(200))")
        #expect(server.log.text.contains("\"level\":\"debug\"") || server.log.text.contains("debug"), "log-level from the file")
    }
}
