import Foundation
import MeshRelayProtocol

/// The agent's durable copy of what it applied: `STATE_DIR/state.json`, replaced atomically
/// (write a temporary file, fsync it, rename it over the old one, fsync the directory), so a
/// kill at any moment leaves either the old or the new state, never a mix.
public struct AgentStateFile: Sendable {
    public let path: String

    /// - Parameter directory: The agent's `--state-dir` (created when missing).
    public init(directory: String) {
        path = URL(fileURLWithPath: directory).appendingPathComponent("state.json").path
    }

    private struct Stored: Codable {
        struct Resource: Codable {
            var kind: String
            var namespace: String
            var name: String
            var version: Int64
            var generation: Int64
            var labels: [String: String]
            /// The canonical spec JSON as a string.
            var spec: String
            /// `metadata.creationTimestamp`; absent in files written before it was kept.
            var creationTimestamp: String?
            /// The warning reported when this version was applied; absent when it applied cleanly
            /// (files written before warnings were kept have none).
            var warning: String?
        }
        var format: Int
        var cluster: String
        var appliedRevision: Int64
        var resources: [Resource]
    }

    /// The stored state, or `nil` when the agent never applied anything.
    /// - Throws: ``AgentError`` when the file exists but cannot be read or belongs to another cluster.
    public func load(cluster: String) throws(AgentError) -> AgentState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let stored: Stored
        do {
            stored = try JSONDecoder().decode(Stored.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw AgentError(.stateFile, "the agent state \(path) cannot be read: \(error); move it away to start empty (the server resends everything)")
        }
        guard stored.format == 1 else {
            throw AgentError(.stateFile, "the agent state \(path) has format \(stored.format), this agent reads format 1; upgrade the agent")
        }
        guard stored.cluster == cluster else {
            throw AgentError(.stateFile, "the agent state \(path) belongs to cluster \(stored.cluster), not \(cluster); use one --state-dir per cluster")
        }
        var resources: [RelayResourceKey: RelayResource] = [:]
        var warnings: [RelayResourceKey: String] = [:]
        for item in stored.resources {
            let key = RelayResourceKey(kind: item.kind, namespace: item.namespace, name: item.name)
            resources[key] = RelayResource(
                key: key, version: item.version, generation: item.generation, labels: item.labels, specJSON: Array(item.spec.utf8),
                creationTimestamp: item.creationTimestamp ?? ""
            )
            if let warning = item.warning, !warning.isEmpty {
                warnings[key] = warning
            }
        }
        return AgentState(cluster: cluster, appliedRevision: stored.appliedRevision, resources: resources, warnings: warnings)
    }

    /// Replaces the stored state atomically and durably.
    public func save(_ state: AgentState) throws(AgentError) {
        let stored = Stored(
            format: 1, cluster: state.cluster, appliedRevision: state.appliedRevision,
            resources: state.resources.values.sorted { $0.key < $1.key }.map {
                Stored.Resource(
                    kind: $0.key.kind, namespace: $0.key.namespace, name: $0.key.name, version: $0.version,
                    generation: $0.generation, labels: $0.labels, spec: String(decoding: $0.specJSON, as: UTF8.self),
                    creationTimestamp: $0.creationTimestamp.isEmpty ? nil : $0.creationTimestamp, warning: state.warnings[$0.key]
                )
            }
        )
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let data: Data
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            data = try encoder.encode(stored)
        } catch {
            throw AgentError(.stateFile, "cannot write the agent state to \(path): \(error); check --state-dir")
        }
        try DurableFile.replace(path, with: data, code: .stateFile, mode: 0o600)
    }
}
