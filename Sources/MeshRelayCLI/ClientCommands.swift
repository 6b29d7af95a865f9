import ArgumentParser
import Foundation
import MeshRelayModel
import MeshRelayServer
import NIOHTTP1
import Yams

/// Output formats of `get`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, wide, yaml, json
}

/// YAML of JSON objects, keys sorted (which puts apiVersion, kind, metadata, spec, status in
/// Kubernetes order).
func yamlDocuments(_ values: [JSONValue]) throws(CLIError) -> String {
    let encoder = YAMLEncoder()
    encoder.options.sortKeys = true
    do {
        return try values.map { try encoder.encode($0) }.joined(separator: "---\n")
    } catch {
        throw .refused("cannot render YAML: \(error)")
    }
}

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Create or update resources from files, a directory, or stdin (all or nothing).",
        discussion: "Unchanged resources keep their generation. Example: meshrelay apply -f google.yaml"
    )

    @Option(name: .shortAndLong, help: "A file, a directory of .yaml/.yml/.json files, or - for stdin. Repeatable.")
    var filename: [String] = []

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if filename.isEmpty { throw ValidationError("apply needs -f FILE|DIR|-") }
    }

    func run() async throws {
        let sources = try ManifestSources(paths: filename)
        let api = try client.client()
        // On a terminal, progress on stderr (count, elapsed, then rate); scripts see nothing extra.
        let progress = isatty(STDERR_FILENO) == 1 ? ApplyProgress(expected: ApplyProgress.documentCount(sources.text)) : nil
        let reply: APIClient.Reply
        do {
            reply = try await progress.withTicker { try await api.send(.POST, "/api/v1/apply", body: Array(sources.text.utf8)) }
        } catch {
            progress?.finish(nil)
            throw error
        }
        guard reply.status == 200 else {
            progress?.finish(nil)
            throw serverRefusal(reply, lineMap: sources)
        }
        let result = try decode(BatchReply.self, from: reply)
        var out = ""
        for entry in result.results {
            let kind = ResourceKind.forManifest(apiVersion: entry.apiVersion, kind: entry.kind)
            let name = kind.map { qualifiedName(kind: $0, name: entry.name) } ?? "\(entry.kind)/\(entry.name)"
            out += "\(name) \(entry.action)\n"
        }
        progress?.clearLine()
        FileHandle.standardOutput.write(Data(out.utf8))
        progress?.finish(result.results.map(\.action))
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "List resources, or show one.",
        discussion: "Kinds: externalservice (es), externalendpoint (ep), workspace (ws), kubernetescluster (kc)."
    )

    @Argument(help: "The resource type, e.g. externalservices or es.")
    var kind: String

    @Argument(help: "A resource name (optional).")
    var name: String?

    @Option(name: .shortAndLong, help: "Namespace (default: default).")
    var namespace: String?

    @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "List across all namespaces.")
    var allNamespaces = false

    @Option(name: .shortAndLong, help: "Output format: table, wide, yaml or json.")
    var output: OutputFormat = .table

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if allNamespaces && name != nil { throw ValidationError("a resource cannot be retrieved by name across all namespaces") }
        if allNamespaces && namespace != nil { throw ValidationError("-n and -A are exclusive") }
    }

    func run() async throws {
        let kind = try resolveKind(kind)
        let api = try client.client()
        let namespace = allNamespaces ? nil : (self.namespace ?? "default")
        let table = output == .table || output == .wide
        let reply = try await api.send(
            .GET, resourcePath(kind: kind, namespace: namespace, name: name),
            accept: table ? "application/json;as=Table;g=meta.k8s.io;v=v1" : "application/json"
        )
        guard reply.status == 200 else { throw serverRefusal(reply) }
        let text: String
        switch output {
        case .json:
            text = JSONIndenter.indent(reply.body)
        case .yaml:
            if name != nil {
                text = try yamlDocuments([decode(JSONValue.self, from: reply)])
            } else {
                struct Items: Decodable { var items: [JSONValue] }
                text = try yamlDocuments(decode(Items.self, from: reply).items)
            }
        case .table, .wide:
            let serverTable = try decode(ServerTable.self, from: reply)
            if serverTable.rows.isEmpty {
                printError(namespace.map { "No resources found in \($0) namespace." } ?? "No resources found.")
                return
            }
            text = serverTable.render(showNamespace: allNamespaces, wide: output == .wide)
        }
        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete resources named in files, or one resource by kind and name."
    )

    @Argument(help: "KIND NAME, e.g. externalservice google.")
    var target: [String] = []

    @Option(name: .shortAndLong, help: "A file, directory or - naming the resources to delete. Repeatable.")
    var filename: [String] = []

    @Option(name: .shortAndLong, help: "Namespace (default: default).")
    var namespace: String?

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if filename.isEmpty && target.count != 2 {
            throw ValidationError("delete needs -f FILE or KIND NAME")
        }
        if !filename.isEmpty && !target.isEmpty {
            throw ValidationError("use either -f FILE or KIND NAME, not both")
        }
    }

    func run() async throws {
        let api = try client.client()
        if !filename.isEmpty {
            let sources = try ManifestSources(paths: filename)
            let reply = try await api.send(.POST, "/api/v1/delete", body: Array(sources.text.utf8))
            guard reply.status == 200 else { throw serverRefusal(reply, lineMap: sources) }
            let result = try decode(BatchReply.self, from: reply)
            var missing: [String] = []
            for entry in result.results {
                let kind = ResourceKind.forManifest(apiVersion: entry.apiVersion, kind: entry.kind)
                let name = kind.map { qualifiedName(kind: $0, name: entry.name) } ?? entry.name
                if entry.action == "deleted" {
                    print("\(name) deleted")
                } else {
                    missing.append("\(name) not found in namespace \(entry.namespace)")
                }
            }
            if !missing.isEmpty {
                throw CLIError.refused(missing.map { "Error from server (NotFound): \($0)" }.joined(separator: "\n"))
            }
            return
        }
        let kind = try resolveKind(target[0])
        let name = target[1]
        let reply = try await api.send(.DELETE, resourcePath(kind: kind, namespace: namespace ?? "default", name: name))
        guard reply.status == 200 else { throw serverRefusal(reply) }
        print("\(kind.singular).\(kind.group) \"\(name)\" deleted")
    }
}

struct DescribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show one resource in detail: spec, status, and its state in every cluster."
    )

    @Argument(help: "The resource type, e.g. externalservice or es.")
    var kind: String

    @Argument(help: "The resource name.")
    var name: String

    @Option(name: .shortAndLong, help: "Namespace (default: default).")
    var namespace: String?

    @OptionGroup var client: ClientOptions

    func run() async throws {
        let kind = try resolveKind(kind)
        let api = try client.client()
        let reply = try await api.send(.GET, resourcePath(kind: kind, namespace: namespace ?? "default", name: name))
        guard reply.status == 200 else { throw serverRefusal(reply) }
        let object = try decode(APIObject.self, from: reply)
        var details: DescribeReport?
        if kind == .externalService {
            let path = "/api/v1/namespaces/\(percentEncoded(namespace ?? "default"))/externalservices/\(percentEncoded(name))/describe"
            let described = try await api.send(.GET, path)
            guard described.status == 200 else { throw serverRefusal(described) }
            details = try decode(DescribeReport.self, from: described)
        }
        print(try ResourceDescription.render(object, details: details))
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every cluster's connection and every resource that is not fully applied."
    )

    @Option(name: .shortAndLong, help: "Output format: table or json (the documented contract, docs/api.md).")
    var output: StatusFormat = .table

    enum StatusFormat: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Flag(name: .shortAndLong, help: "Refresh in place until interrupted (table output).")
    var watch = false

    @Option(name: .customLong("interval"), help: "Seconds between refreshes with --watch.")
    var interval: Double = 2

    @OptionGroup var client: ClientOptions

    func validate() throws {
        if !(0.2...3600).contains(interval) { throw ValidationError("--interval must be between 0.2 and 3600 seconds") }
        if watch && output == .json { throw ValidationError("--watch shows the table; use -o json without --watch for scripts") }
    }

    func run() async throws {
        let api = try client.client()
        guard watch else {
            print(try await render(api))
            return
        }
        let terminal = isatty(STDOUT_FILENO) == 1
        while !Task.isCancelled {
            let text: String
            do {
                text = try await render(api)
            } catch {
                text = "cannot read the status: \(error.message)"
            }
            // Home and clear on a terminal, so the table refreshes in place; a separator otherwise.
            print((terminal ? "\u{1B}[H\u{1B}[2J" : "---\n") + "Every \(interval) s: meshrelay status    \(RFC3339.string(from: Date()))\n\n" + text)
            try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        }
    }

    private func render(_ api: APIClient) async throws(CLIError) -> String {
        let reply = try await api.send(.GET, "/api/v1/status")
        guard reply.status == 200 else { throw serverRefusal(reply) }
        switch output {
        case .json:
            return JSONIndenter.indent(reply.body)
        case .table:
            return StatusTable.render(try decode(StatusReport.self, from: reply), now: Date())
        }
    }
}
