#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Foundation
public import MeshRelayStore

/// Cluster records that say "connected" although the server process that held the session is
/// gone: after a `kill -9` (or an OOM kill) nothing marked them disconnected, and until the agent
/// came back the status claimed a session nobody held — with the old applied revision, so "lag 0".
///
/// At start, before it accepts a session, a server marks disconnected the records held
/// - by its own replica ID (it holds no session yet: a pod restarted with the same name and PID 1,
///   or `--replica-id` given again), and
/// - by a replica ID of the default form `HOST/PID` with this host's name and a PID that no longer
///   runs a process (the earlier server on this machine).
///
/// Records of a live server on the same host (two servers sharing one data directory in tests) and
/// of other hosts are left to their owners. With PostgreSQL the second rule is off (`hostName` nil):
/// replicas in containers may share a host name without sharing a PID namespace, and heartbeat
/// expiry already marks a dead replica's sessions.
public enum LeftoverSessions {
    /// The records to mark disconnected (pure: the process check is passed in).
    public static func stale(
        _ records: [ClusterStatusRecord], ownReplicaID: String, hostName: String?, isRunning: (Int32) -> Bool
    ) -> [ClusterStatusRecord] {
        records.filter { record in
            guard record.connected, let server = record.server else { return false }
            if server == ownReplicaID { return true }
            guard let hostName else { return false }
            let prefix = hostName + "/"
            guard server.hasPrefix(prefix), let pid = Int32(server.dropFirst(prefix.count)), pid > 0 else { return false }
            return !isRunning(pid)
        }
    }

    /// Whether a process with this PID exists and is not a zombie (Linux reads `/proc`; elsewhere
    /// `kill(pid, 0)`).
    public static func processIsRunning(_ pid: Int32) -> Bool {
        if FileManager.default.fileExists(atPath: "/proc/self/stat") {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
            // "PID (COMMAND) STATE …": the command may hold spaces and parentheses, the state
            // follows the last ')'.
            guard let close = stat.lastIndex(of: ")") else { return true }
            let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
            return state != "Z" && state != "X"
        }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Marks the stale records disconnected; returns the clusters it marked.
    public static func markStale(
        in store: any ResourceStore, ownReplicaID: String, hostName: String?, now: Date = Date(),
        isRunning: (Int32) -> Bool = processIsRunning
    ) async throws -> [String] {
        var marked: [String] = []
        for record in stale(try await store.clusterStatuses(), ownReplicaID: ownReplicaID, hostName: hostName, isRunning: isRunning) {
            guard let server = record.server else { continue }
            if try await store.markDisconnected(cluster: record.cluster, server: server, at: now) { marked.append(record.cluster) }
        }
        return marked
    }
}
