import Foundation
public import Logging
import MeshRelayModel
public import MeshRelayProtocol
public import MeshRelayTranslation

/// Istio output: one `ServiceEntry` per ExternalService and a `kustomization.yaml`, in a directory
/// that is swapped as a whole. `DIR` is a symbolic link to `.DIR.versions/N`; a new set is written
/// to `.DIR.versions/N+1`, a temporary link to it is renamed onto `DIR` (atomic), and the previous
/// version is removed. A reader (`kubectl apply -k DIR`, a GitOps sync) sees the old set or the
/// new one, never a mix. `DIR` must be absent, an empty directory, or a link this agent made.
public final class IstioDataPlane: DataPlane {
    public let directory: String
    private let policy: OutboundPolicy
    private let logger: Logger
    private let writing = AsyncSerializer()

    /// - Throws: ``AgentError`` `.configuration` when `directory` is a non-empty real directory or
    ///   a file (the agent will not replace what it did not write).
    public init(directory: String, policy: OutboundPolicy, logger: Logger) throws(AgentError) {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        let isLink = (try? FileManager.default.destinationOfSymbolicLink(atPath: absolute)) != nil
        if !isLink && FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: absolute)) ?? ["?"]
            guard isDirectory.boolValue, entries.isEmpty else {
                throw AgentError(
                    .configuration,
                    "--istio-dir \(absolute) exists and is not an empty directory or a link this agent made; pass a new path (the agent keeps it a link to the current version)"
                )
            }
            do {
                try FileManager.default.removeItem(atPath: absolute)
            } catch {
                throw AgentError(.configuration, "--istio-dir \(absolute) cannot be replaced by a link: \(error)")
            }
        }
        self.directory = absolute
        self.policy = policy
        self.logger = logger
    }

    public func apply(_ resources: [RelayResource], revision: Int64) async -> DataPlaneOutcome {
        await writing.run {
            do {
                let output = try self.translate(resources, revision: revision)
                try self.swap(in: output.istio, revision: revision)
                return .accepted(DataPlaneOutcomes.from(output))
            } catch {
                return .rejected("the Istio manifests cannot be written to \(self.directory): \(error)")
            }
        }
    }

    public func restore(_ resources: [RelayResource], revision: Int64) async {
        if case .rejected(let message) = await apply(resources, revision: revision) {
            logger.error("cannot write the Istio manifests from the agent state", metadata: ["agent.error": "\(message)"])
        }
    }

    public func run() async {}

    public func stop() {}

    /// Files only: healthy while the agent runs (whoever applies them reports on its own).
    public func health() async -> DataPlaneHealth {
        .healthy("Istio ServiceEntries written to \(directory)")
    }

    private func translate(_ resources: [RelayResource], revision: Int64) throws -> TranslationOutput {
        // The gateway does not matter for Istio output; the translator needs one.
        let gateway = GatewayConfiguration(configDirectory: "/", httpListener: SocketAddress(host: "127.0.0.1", port: 15001))
        var input = TranslationInput(resources: resources.map(RawSnapshotResource.init), policy: policy, gateway: gateway, versionInfo: "\(revision)")
        input.outputs = .istio
        return try Translator.translate(input)
    }

    /// Writes `files` to a fresh version directory and points `directory` at it atomically.
    private func swap(in files: [String: String], revision: Int64) throws {
        let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
        let name = URL(fileURLWithPath: directory).lastPathComponent
        let versions = parent + "/." + name + ".versions"
        let previous = try? FileManager.default.destinationOfSymbolicLink(atPath: directory)
        let version = "\(revision)-\(UInt32.random(in: .min ... .max))"
        let target = versions + "/" + version
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for (file, text) in files {
            try DurableFile.replace(target + "/" + file, with: Array(text.utf8), code: .dataPlane)
        }
        let link = parent + "/." + name + ".link-" + version
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        guard rename(link, directory) == 0 else {
            let failure = errno
            try? FileManager.default.removeItem(atPath: link)
            throw AgentError(.dataPlane, "cannot rename \(link) onto \(directory) (errno \(failure))")
        }
        if let previous, previous != target {
            try? FileManager.default.removeItem(atPath: previous)
        }
    }
}

/// Several data planes in order (Envoy, then Istio): the first rejection wins; outcomes merge.
public struct DataPlanes: DataPlane {
    public let planes: [any DataPlane]

    public init(_ planes: [any DataPlane]) {
        self.planes = planes
    }

    public func apply(_ resources: [RelayResource], revision: Int64) async -> DataPlaneOutcome {
        var outcomes: [RelayResourceKey: DataPlaneResourceOutcome] = [:]
        for plane in planes {
            switch await plane.apply(resources, revision: revision) {
            case .rejected(let message):
                return .rejected(message)
            case .accepted(let more):
                outcomes.merge(more) { first, _ in first }
            }
        }
        return .accepted(outcomes)
    }

    public func restore(_ resources: [RelayResource], revision: Int64) async {
        for plane in planes { await plane.restore(resources, revision: revision) }
    }

    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for plane in planes {
                group.addTask { await plane.run() }
            }
        }
    }

    public func stop() {
        for plane in planes { plane.stop() }
    }

    /// The first unhealthy plane's report, else every plane's message.
    public func health() async -> DataPlaneHealth {
        var messages: [String] = []
        for plane in planes {
            let health = await plane.health()
            if !health.isHealthy { return health }
            if !health.message.isEmpty { messages.append(health.message) }
        }
        return .healthy(messages.joined(separator: "; "))
    }
}

/// Translation outcomes as data plane outcomes.
enum DataPlaneOutcomes {
    static func from(_ output: TranslationOutput) -> [RelayResourceKey: DataPlaneResourceOutcome] {
        var outcomes: [RelayResourceKey: DataPlaneResourceOutcome] = [:]
        for outcome in output.outcomes {
            let key = RelayResourceKey(kind: outcome.key.kind.rawValue, namespace: outcome.key.namespace, name: outcome.key.name)
            switch outcome.state {
            case .applied: break
            case .warning: outcomes[key] = .warning(outcome.message)
            case .failed: outcomes[key] = .failed(outcome.message)
            }
        }
        return outcomes
    }
}

extension RawSnapshotResource {
    /// A held resource as the translator takes it.
    init(_ resource: RelayResource) {
        self.init(
            kind: resource.key.kind, namespace: resource.key.namespace, name: resource.key.name, labels: resource.labels,
            creationTimestamp: resource.creationTimestamp.isEmpty ? nil : resource.creationTimestamp, specJSON: resource.specJSON
        )
    }
}
