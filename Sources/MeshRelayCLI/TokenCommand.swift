import ArgumentParser
import Foundation

/// `meshrelay token create`: a bootstrap token for one agent's enrolment (docs/security.md).
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Bootstrap tokens with which agents enrol (get their certificate from the server).",
        subcommands: [TokenCreateCommand.self]
    )
}

struct TokenCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a single-use bootstrap token for one registered cluster; prints it once.",
        discussion: """
            The token enrols exactly that cluster, once, before it expires; the server keeps only its SHA-256.
            Give it to the agent in a file: meshrelay agent --cluster NAME --bootstrap-token-file F --ca-file ca.crt …
            """
    )

    @Option(name: .customLong("cluster"), help: "The registered cluster (its KubernetesCluster name).")
    var cluster: String

    @Option(name: .customLong("ttl"), help: "Seconds until the token expires (60 … 604800).")
    var ttl = 3600

    @Option(name: .shortAndLong, help: "Output: the token alone (text) or json.")
    var output: Format = .text

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if !(60...604_800).contains(ttl) { throw ValidationError("--ttl must be between 60 and 604800 seconds") }
    }

    func run() async throws {
        let api = try client.client()
        let body = try JSONSerialization.data(withJSONObject: ["cluster": cluster, "ttlSeconds": ttl])
        let reply = try await api.send(.POST, "/api/v1/bootstrap-tokens", body: Array(body), contentType: "application/json")
        guard reply.status == 201 else { throw serverRefusal(reply) }
        struct Created: Decodable {
            var token: String
            var expiresAt: String
        }
        let created = try decode(Created.self, from: reply)
        switch output {
        case .text:
            print(created.token)
            printError("bootstrap token for cluster \(cluster), single use, expires \(created.expiresAt); it is not shown again")
        case .json:
            print(reply.text)
        }
    }
}
