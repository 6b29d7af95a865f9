import Foundation
import MeshRelayTesting
import Testing

/// The API listener against hostile requests, with a real `meshrelay server` process: each is
/// refused with a clear status, the store does not change, and the server stays up and small.
@Suite("API security: refusals by a real server", .serialized)
struct APISecurityTests {
    /// One raw HTTP/1.1 request; the status code of the answer (0: none).
    static func status(_ port: Int, _ method: String, _ path: String, body: String = "", token: String? = nil, timeout: TimeInterval = 30) -> (Int, String) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/yaml\r\nContent-Length: \(body.utf8.count)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        let answer = exchange(port: port, head + "\r\n" + body, timeout: timeout) ?? ""
        let code = answer.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        return (code, answer)
    }

    static func revision(_ server: ServerProcess) -> String {
        let (_, answer) = status(server.port, "GET", "/api/v1/status")
        let body = answer.components(separatedBy: "\r\n\r\n").dropFirst().joined()
        return (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["revision"].map { "\($0)" } ?? "?"
    }

    /// The server's peak resident memory (VmHWM) in KiB.
    static func peakMemory(_ server: ServerProcess) -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(server.process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test func everyMutatingPathNeedsTheTokenAndChangesNothingWithoutIt() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory + "/data")
        defer { _ = server.terminate() }
        let base = "/apis/networking.gloo.solo.io/v2/namespaces/global/externalservices"
        let manifest = SeedManifests.google
        let paths: [(String, String, String)] = [
            ("POST", "/api/v1/apply", manifest), ("POST", "/api/v1/delete", manifest),
            ("POST", "/api/v1/bootstrap-tokens", #"{"cluster":"cluster-1"}"#),
            ("POST", base, manifest), ("PUT", base + "/google", manifest), ("DELETE", base + "/google", ""),
        ]
        let before = Self.revision(server)
        for (method, path, body) in paths {
            for token in [nil, "wrong", String(repeating: "a", count: 64)] {
                let (code, answer) = Self.status(server.port, method, path, body: body, token: token)
                #expect(code == 401, "\(method) \(path) with token \(token ?? "none"): \(answer.prefix(300))")
            }
        }
        #expect(Self.revision(server) == before)
    }

    @Test func traversalNamesOversizedBodiesAndYAMLBombsAreRefusedInBoundedMemory() async throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory + "/data", extraArguments: ["--max-body-bytes", "4194304"])
        defer { _ = server.terminate() }
        let token = try String(contentsOfFile: server.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let before = Self.revision(server)
        let baseline = Self.peakMemory(server)

        // Names that try to leave their place: refused as invalid, nothing stored.
        for name in ["../etc", "..", "a/b", "%2e%2e"] {
            let manifest = SeedManifests.google.replacingOccurrences(of: "name: google", with: "name: \"\(name)\"")
            let (code, answer) = Self.status(server.port, "POST", "/api/v1/apply", body: manifest, token: token)
            #expect(code == 422, "name \(name): \(answer.prefix(400))")
        }
        for path in [
            "/apis/networking.gloo.solo.io/v2/namespaces/..%2F..%2Fetc/externalservices/x",
            "/apis/networking.gloo.solo.io/v2/namespaces/global/externalservices/..%2F..%2Fpasswd",
        ] {
            let (code, _) = Self.status(server.port, "GET", path)
            #expect(code == 404 || code == 400, "\(path) answered \(code)")
        }

        // Larger than --max-body-bytes: 413 before the body is parsed.
        let huge = String(repeating: "#", count: 5 << 20)
        #expect(Self.status(server.port, "POST", "/api/v1/apply", body: huge, token: token).0 == 413)

        // Billion laughs: anchors and aliases are refused before anything expands.
        var laughs = "a0: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        for level in 1...9 { laughs += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ",") + "]\n" }
        let started = Date()
        let (laughCode, laughAnswer) = Self.status(server.port, "POST", "/api/v1/apply", body: laughs, token: token)
        #expect(laughCode == 400 || laughCode == 422, "\(laughAnswer.prefix(400))")
        // Deep nesting: 100,000 levels of flow sequences, and of block mappings.
        let (deepCode, deepAnswer) = Self.status(
            server.port, "POST", "/api/v1/apply", body: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), token: token)
        #expect(deepCode == 400 || deepCode == 422, "\(deepAnswer.prefix(400))")
        let block = (0..<2_000).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " v\n"
        let (blockCode, blockAnswer) = Self.status(server.port, "POST", "/api/v1/apply", body: block, token: token)
        #expect(blockCode == 400 || blockCode == 422, "\(blockCode): \(blockAnswer.prefix(400))")
        #expect(Date().timeIntervalSince(started) < 30, "each bomb is refused quickly")

        // Nothing stored, the server alive and still small (peak RSS grew by less than 256 MiB).
        #expect(Self.revision(server) == before)
        #expect(Self.status(server.port, "GET", "/healthz").0 == 200)
        #expect(Self.peakMemory(server) - baseline < 256 * 1024, "peak RSS \(baseline) → \(Self.peakMemory(server)) KiB")
    }
}
