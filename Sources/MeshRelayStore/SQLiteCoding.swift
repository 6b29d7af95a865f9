import Foundation
import GRDB
import MeshRelayModel

/// Conversions between the store's Swift types and SQLite columns, and the translation of
/// SQLite failures into ``StoreError``.
enum SQLiteCoding {
    /// The columns ``decodeResource(_:decoder:)`` reads, in order, from the `resources` table
    /// aliased `r`.
    static let resourceColumns =
        "r.kind, r.namespace, r.name, r.uid, r.labels, r.annotations, r.spec, r.generation, r.resource_version, r.created_at, r.updated_at"
    /// How many columns ``resourceColumns`` has.
    static let resourceColumnCount = 11

    /// Seconds since 1970 as stored in REAL columns.
    static func timestamp(_ date: Date) -> Double { StoreCoding.timestamp(date) }

    /// A date from a REAL column.
    static func date(_ seconds: Double) -> Date { StoreCoding.date(seconds) }

    /// Decodes a kind name, or throws `.corrupt`.
    static func kind(_ raw: String) throws -> ResourceKind { try StoreCoding.kind(raw) }

    /// Decodes the key in columns 0...2 of `row` (kind, namespace, name).
    static func decodeKey(_ row: Row) throws -> ResourceKey {
        ResourceKey(
            kind: try kind(try row.decode(String.self, atIndex: 0)),
            namespace: try row.decode(String.self, atIndex: 1),
            name: try row.decode(String.self, atIndex: 2)
        )
    }

    /// Decodes a row laid out as ``resourceColumns``.
    static func decodeResource(_ row: Row, decoder: JSONDecoder) throws -> StoredResource {
        let key = try decodeKey(row)
        do {
            return try StoreCoding.resource(
                key: key, uid: try row.decode(String.self, atIndex: 3), labels: try row.decode(String?.self, atIndex: 4),
                annotations: try row.decode(String?.self, atIndex: 5), spec: try row.decode(String.self, atIndex: 6),
                generation: try row.decode(Int64.self, atIndex: 7), resourceVersion: try row.decode(Int64.self, atIndex: 8),
                createdAt: try row.decode(Double.self, atIndex: 9), updatedAt: try row.decode(Double.self, atIndex: 10), decoder: decoder
            )
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(
                .corrupt,
                "stored \(key) cannot be decoded: \(error); the database was edited by hand or written by an incompatible meshrelay, restore a backup or delete and re-apply the resource"
            )
        }
    }

    /// Decodes a `cluster_status` row (all columns, in table order).
    static func decodeClusterStatus(_ row: Row) throws -> ClusterStatusRecord {
        do {
            let cluster = try row.decode(String.self, atIndex: 0)
            return ClusterStatusRecord(
                cluster: cluster,
                connected: try row.decode(Bool.self, atIndex: 1),
                lastSeen: try row.decode(Double?.self, atIndex: 2).map(date),
                appliedRevision: try row.decode(Int64.self, atIndex: 3),
                agentVersion: try row.decode(String?.self, atIndex: 4),
                outboundPolicy: try row.decode(String?.self, atIndex: 5),
                server: try row.decode(String?.self, atIndex: 6),
                updatedAt: date(try row.decode(Double.self, atIndex: 7)),
                dataPlaneState: try row.decode(String?.self, atIndex: 8),
                dataPlaneMessage: try row.decode(String?.self, atIndex: 9),
                appliedSteps: try StoreCoding.appliedSteps(row.decode(String?.self, atIndex: 10), cluster: cluster)
            )
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.corrupt, "a cluster status row cannot be decoded: \(error); restore a backup")
        }
    }

    /// Decodes a `resource_status` row (all columns, in table order).
    static func decodeResourceStatus(_ row: Row) throws -> ResourceStatusRecord {
        do {
            let cluster = try row.decode(String.self, atIndex: 0)
            let key = ResourceKey(
                kind: try kind(try row.decode(String.self, atIndex: 1)),
                namespace: try row.decode(String.self, atIndex: 2),
                name: try row.decode(String.self, atIndex: 3)
            )
            let state = try StoreCoding.state(try row.decode(String.self, atIndex: 4), key: key, cluster: cluster)
            return ResourceStatusRecord(
                cluster: cluster,
                key: key,
                state: state,
                message: try row.decode(String.self, atIndex: 5),
                observedGeneration: try row.decode(Int64.self, atIndex: 6),
                revision: try row.decode(Int64.self, atIndex: 7),
                updatedAt: date(try row.decode(Double.self, atIndex: 8))
            )
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.corrupt, "a resource status row cannot be decoded: \(error); restore a backup")
        }
    }

    /// Turns any failure of a store operation into a ``StoreError`` that says what to do.
    /// ``StoreError`` and `CancellationError` pass through unchanged.
    static func translate(_ error: any Error, action: String, path: String) -> any Error {
        if error is StoreError || error is CancellationError { return error }
        guard let error = error as? DatabaseError else {
            return StoreError(.io, "\(action) failed on \(path): \(error)")
        }
        let detail = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StoreError(
                .io,
                "\(action): the database \(path) stayed locked (\(detail)); make sure only one meshrelay server uses this data directory"
            )
        case .SQLITE_FULL:
            return StoreError(.io, "\(action): the disk holding \(path) is full (\(detail)); free some space and retry")
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN, .SQLITE_AUTH:
            return StoreError(.io, "\(action): cannot write \(path) (\(detail)); check the --data-dir permissions")
        case .SQLITE_IOERR:
            return StoreError(.io, "\(action): I/O error on \(path) (\(detail)); check the disk and its filesystem")
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return StoreError(.corrupt, "\(action): the database \(path) is damaged (\(detail)); restore it from a backup")
        default:
            return StoreError(.io, "\(action) failed on \(path): \(detail)")
        }
    }
}
