import ArgumentParser
import Foundation
import MeshRelayModel

/// Where the server is and which token to present; shared by every client verb.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("api"), help: "The server's API URL (env MESHRELAY_API; default http://127.0.0.1:9091).")
    var api: String?

    @Option(
        name: .customLong("token-file"),
        help: "File holding the admin token (default: env MESHRELAY_TOKEN, else ./meshrelay-data/admin.token)."
    )
    var tokenFile: String?

    @Option(name: .customLong("ca-file"), help: "For an https:// API (server --api-tls): the CA to trust, e.g. ca.crt (env MESHRELAY_CA_FILE).")
    var caFile: String?

    static let defaultAPI = "http://127.0.0.1:9091"
    static let defaultTokenFile = "./meshrelay-data/admin.token"

    var apiURL: String {
        api ?? ProcessInfo.processInfo.environment["MESHRELAY_API"] ?? Self.defaultAPI
    }

    /// The token from --token-file, MESHRELAY_TOKEN, or the default file, in that order.
    func token() throws(CLIError) -> String? {
        if let tokenFile {
            do {
                return try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            } catch {
                throw .usage("cannot read the token file \(tokenFile): \(error.localizedDescription)")
            }
        }
        if let token = ProcessInfo.processInfo.environment["MESHRELAY_TOKEN"], !token.isEmpty {
            return token
        }
        return try? String(contentsOfFile: Self.defaultTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func client() throws(CLIError) -> APIClient {
        try APIClient(url: apiURL, token: try token(), caFile: caFile ?? ProcessInfo.processInfo.environment["MESHRELAY_CA_FILE"])
    }
}

/// Resolves a kind as kubectl does (`externalservice`, `externalservices`, `es`, …).
func resolveKind(_ name: String) throws(CLIError) -> ResourceKind {
    guard let kind = ResourceKind.lookup(name) else {
        let known = ResourceKind.allCases.map { "\($0.singular) (\(([$0.plural] + $0.shortNames).joined(separator: ", ")))" }
        throw .usage("unknown resource type \"\(name)\"; known: \(known.joined(separator: "; "))")
    }
    return kind
}

/// Turns a non-2xx reply into the server's message (a Kubernetes Status), exit code 1.
func serverRefusal(_ reply: APIClient.Reply, lineMap: ManifestSources? = nil) -> CLIError {
    guard let status = try? JSONDecoder().decode(ServerStatus.self, from: Data(reply.body)) else {
        return .refused("Error from server (HTTP \(reply.status)): \(reply.text.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
    let causes = status.details?.causes ?? []
    var message = status.message ?? ""
    if !causes.isEmpty, let colon = message.range(of: ": ") {
        // The causes below carry the details (with file:line for syntax errors).
        message = String(message[..<colon.lowerBound]) + ":"
    }
    var lines = ["Error from server (\(status.reason ?? "HTTP \(reply.status)")): \(message)"]
    for cause in causes {
        var place = ""
        if let line = cause.line {
            place = lineMap?.describe(line: line, column: cause.column) ?? "line \(line)\(cause.column.map { ", column \($0)" } ?? "")"
            place += ": "
        }
        let subject = [cause.resource, cause.field].compactMap { $0 }.joined(separator: ": ")
        lines.append("  - \(place)\(subject.isEmpty ? "" : subject + ": ")\(cause.message) [\(cause.reason)]")
    }
    return .refused(lines.joined(separator: "\n"))
}

/// The Kubernetes `Status` body as the client reads it.
struct ServerStatus: Decodable {
    struct Cause: Decodable {
        var reason: String
        var message: String
        var field: String?
        var resource: String?
        var line: Int?
        var column: Int?
    }
    struct Details: Decodable {
        var causes: [Cause]?
    }
    var status: String?
    var message: String?
    var reason: String?
    var code: Int?
    var details: Details?
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
