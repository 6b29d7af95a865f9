import ArgumentParser
import Foundation
import MeshRelayModel
import MeshRelayPKI

/// `meshrelay certs`: the local certificate authority (docs/operations.md, certificates).
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Make and inspect the relay's certificates (CA, server, one per agent cluster).",
        discussion: """
            One folder serves a whole local setup: `meshrelay server --certs-dir DIR` reads ca.crt, server.crt and
            server.key; `meshrelay agent --certs-dir DIR --cluster NAME` reads ca.crt, NAME.crt and NAME.key.
            ECDSA P-256, random serial numbers; CA valid 10 years, leaves 90 days unless told otherwise.
            """,
        subcommands: [CertsInitCommand.self, CertsIssueCommand.self, CertsInspectCommand.self]
    )
}

struct CertsInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Make a CA and the server's certificate: DIR/ca.crt, ca.key (0600), server.crt, server.key (0600)."
    )

    @Option(name: .customLong("dir"), help: "The certificate folder (created if needed).")
    var directory: String

    @Option(name: .customLong("server-san"), help: "A DNS name or IP address the server is reached by. Repeatable. Default: localhost and 127.0.0.1.")
    var serverNames: [String] = []

    @Option(name: .customLong("ca-days"), help: "CA validity in days.")
    var caDays = CertificateAuthority.defaultCADays

    @Option(name: .customLong("server-days"), help: "Server certificate validity in days.")
    var serverDays = CertificateAuthority.defaultLeafDays

    @Flag(name: .customLong("force"), help: "Replace existing files (a new CA: every agent certificate must be issued again).")
    var force = false

    func run() throws {
        let folder = CertificateDirectory(path: directory)
        do {
            try folder.initialize(serverNames: serverNames, caDays: caDays, serverDays: serverDays, force: force)
        } catch {
            throw certsError(error)
        }
        let names = serverNames.isEmpty ? "localhost, 127.0.0.1" : serverNames.joined(separator: ", ")
        print("wrote \(folder.file("ca.crt")), \(folder.file("ca.key")) (0600): CA, \(caDays) days")
        print("wrote \(folder.file("server.crt")), \(folder.file("server.key")) (0600): server (\(names)), \(serverDays) days")
        print("next: meshrelay certs issue --dir \(directory) --cluster NAME   (one per workload cluster)")
    }
}

struct CertsIssueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "issue",
        abstract: "Issue the agent certificate of a cluster: DIR/NAME.crt and DIR/NAME.key (0600).",
        discussion: "The certificate carries the URI SAN spiffe://meshrelay/cluster/NAME, the only identity the relay believes."
    )

    @Option(name: .customLong("dir"), help: "The certificate folder made by `certs init`.")
    var directory: String

    @Option(name: .customLong("cluster"), help: "The cluster (the metadata.name of its KubernetesCluster).")
    var cluster: String

    @Option(name: .customLong("days"), help: "Validity in days.")
    var days = CertificateAuthority.defaultLeafDays

    @Flag(name: .customLong("force"), help: "Replace an existing certificate of this cluster.")
    var force = false

    func run() throws {
        let folder = CertificateDirectory(path: directory)
        do {
            try folder.issueAgent(cluster: cluster, days: days, force: force)
        } catch {
            throw certsError(error)
        }
        print("wrote \(folder.file("\(cluster).crt")), \(folder.file("\(cluster).key")) (0600): agent of cluster \(cluster), \(days) days")
    }
}

struct CertsInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a certificate in meshrelay's terms: role, identity, names, validity, issuer."
    )

    @Argument(help: "A PEM certificate file (a bundle shows each certificate).")
    var file: String

    @Option(name: .shortAndLong, help: "Output format: text or json.")
    var output: InspectFormat = .text

    enum InspectFormat: String, ExpressibleByArgument, CaseIterable { case text, json }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIError.usage("meshrelay certs inspect: cannot read \(file)")
        }
        let summaries: [CertificateSummary]
        do {
            summaries = try CertificateSummary.read(pem: String(decoding: data, as: UTF8.self))
        } catch {
            throw CLIError.refused("meshrelay certs inspect: \(file): \(error.message)")
        }
        switch output {
        case .text:
            print(summaries.map { $0.render() }.joined(separator: "\n\n"))
        case .json:
            let objects = summaries.map(\.jsonObject)
            let value: Any = objects.count == 1 ? objects[0] : objects
            guard let json = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]) else {
                throw CLIError.refused("meshrelay certs inspect: cannot encode JSON")
            }
            print(String(decoding: json, as: UTF8.self))
        }
    }
}

extension CertificateSummary {
    /// The `-o json` contract of `certs inspect`.
    var jsonObject: [String: Any] {
        var object: [String: Any] = [
            "subject": subject, "issuer": issuer, "serial": serial, "names": names, "usages": usages,
            "notBefore": RFC3339.string(from: notBefore), "notAfter": RFC3339.string(from: notAfter), "daysLeft": daysLeft(),
            "key": keyAlgorithm, "sha256": sha256Fingerprint,
        ]
        switch role {
        case .authority: object["role"] = "ca"
        case .server: object["role"] = "server"
        case .agent(let cluster):
            object["role"] = "agent"
            object["cluster"] = cluster
        case .other(let reason):
            object["role"] = "none"
            object["reason"] = reason
        }
        return object
    }
}

func certsError(_ error: PKIError) -> CLIError {
    switch error.code {
    case .invalidName, .invalidValidity, .exists: CLIError.usage("meshrelay certs: \(error.message)")
    case .io, .invalidPEM, .signing: CLIError.refused("meshrelay certs: \(error.message)")
    }
}
