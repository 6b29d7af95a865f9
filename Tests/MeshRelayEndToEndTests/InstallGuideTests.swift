import Foundation
import Testing

/// docs/install.md: every command marked `# [runs here]` runs. The `meshrelay` ones run here, in
/// order, in a scratch folder; the `helm` and `scripts/` ones are run verbatim by
/// scripts/check-charts.sh (which .ci/run calls after `swift test`).
@Suite("The install guide's commands", .serialized)
struct InstallGuideTests {
    static let guide = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/install.md")

    /// The `# [runs here]` commands of the guide's ```sh blocks, continuation lines joined.
    static func runnableCommands() throws -> [String] {
        let text = try String(contentsOf: guide, encoding: .utf8)
        var commands: [String] = []
        var inShell = false
        var pending = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("```") {
                inShell = !inShell && line.hasPrefix("```sh")
                pending = ""
                continue
            }
            guard inShell else { continue }
            var body = line
            var marked = false
            if let marker = body.range(of: "# [runs here]") {
                marked = true
                body = String(body[..<marker.lowerBound])
            }
            body = body.trimmingCharacters(in: .whitespaces)
            if body.hasSuffix("\\") {
                pending += body.dropLast() + " "
                continue
            }
            let command = (pending + body).trimmingCharacters(in: .whitespaces)
            pending = ""
            if marked { commands.append(command) }
        }
        return commands
    }

    @Test func everyRunnableCommandOfTheGuideRuns() async throws {
        let commands = try Self.runnableCommands()
        #expect(commands.count >= 7, "\(commands)")
        let directory = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var ran = 0
        for command in commands {
            let words = command.split(separator: " ").map(String.init)
            switch words.first {
            case "meshrelay":
                // Relative paths of the guide (certs/…) are made relative to the scratch folder.
                let given = Array(words.dropFirst())
                let arguments = given.indices.map { index -> String in
                    let word = given[index]
                    let isFolder = word == "certs" && index > 0 && given[index - 1] == "--dir"
                    return isFolder || word.hasPrefix("certs/") ? directory + "/" + word : word
                }
                guard !arguments.contains("--config") else { continue }  // needs helm's output: check-charts.sh runs it
                let result = try await runMeshrelay(Array(arguments))
                #expect(result.exitCode == 0, "\(command)\n\(result.stdout)\(result.stderr)")
                ran += 1
            case "helm", "scripts/install-helm-tools.sh", "scripts/check-charts.sh":
                continue
            default:
                Issue.record("a [runs here] command no test runs: \(command)")
            }
        }
        #expect(ran >= 4)
        // What the commands made is what the rest of the guide uses.
        for file in ["ca.crt", "ca.key", "server.crt", "server.key", "cluster-1.crt", "cluster-2.key"] {
            #expect(FileManager.default.fileExists(atPath: directory + "/certs/" + file), "certs/\(file)")
        }
        let inspected = try await runMeshrelay(["certs", "inspect", directory + "/certs/server.crt"])
        #expect(inspected.stdout.contains("relay.meshrelay.internal") && inspected.stdout.contains("meshrelay-server.meshrelay-system.svc"))
    }
}
