import Foundation
import MeshRelayModel

/// What both stores share: how a resource becomes columns, how columns become a
/// ``StoredResource``, and the pure decision of what an apply does to each resource.
enum StoreCoding {
    /// A resource ready to be written: user-owned metadata only, and its JSON columns.
    struct EncodedResource: Sendable {
        var key: ResourceKey
        var resource: Resource
        /// Canonical spec JSON.
        var spec: String
        var labels: String?
        var annotations: String?
    }

    /// What an apply found stored under one key.
    struct Existing: Sendable {
        var uid: String
        var labels: String?
        var annotations: String?
        var spec: String
        var generation: Int64
        var resourceVersion: Int64
    }

    /// One resource of an apply and what happens to it.
    struct PlannedWrite: Sendable {
        var item: EncodedResource
        var existing: Existing?
        var outcome: ApplyOutcome
    }

    /// Encodes every resource of an apply, refusing the same key twice.
    static func encodeBatch(_ resources: [Resource]) throws -> [EncodedResource] {
        var seen = Set<ResourceKey>()
        seen.reserveCapacity(resources.count)
        var encoded: [EncodedResource] = []
        encoded.reserveCapacity(resources.count)
        for resource in resources {
            let item = try encode(resource)
            guard seen.insert(item.key).inserted else {
                throw StoreError(.invalidInput, "\(item.key) appears more than once in one apply; keep one document per resource")
            }
            encoded.append(item)
        }
        return encoded
    }

    /// Encodes what an apply needs to compare and store. Runs outside any transaction.
    static func encode(_ resource: Resource) throws -> EncodedResource {
        var copy = resource
        copy.metadata = resource.metadata.userOwned
        let key = copy.key
        do {
            return EncodedResource(
                key: key,
                resource: copy,
                spec: String(decoding: try copy.spec.canonicalJSON(), as: UTF8.self),
                labels: try encodeMap(copy.metadata.labels),
                annotations: try encodeMap(copy.metadata.annotations)
            )
        } catch {
            throw StoreError(.invalidInput, "\(key) cannot be encoded as JSON: \(error); fix the resource and apply again")
        }
    }

    /// Compact JSON with sorted keys, or `nil` when the map is absent (an empty map stays `{}`).
    static func encodeMap(_ map: [String: String]?) throws -> String? {
        guard let map else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(map), as: UTF8.self)
    }

    /// Decides, for each resource of an apply, whether it is created, configured (and whether its
    /// generation moves) or unchanged, given what is stored. Pure; both stores run it inside
    /// their write transaction. `next` is the revision the apply commits if anything changed.
    static func plan(_ input: [EncodedResource], existing: (ResourceKey) throws -> Existing?, next: Int64) rethrows -> (
        writes: [PlannedWrite], changed: Int
    ) {
        var writes: [PlannedWrite] = []
        writes.reserveCapacity(input.count)
        var changed = 0
        for item in input {
            let stored = try existing(item.key)
            let outcome: ApplyOutcome
            if let stored {
                if stored.spec == item.spec && stored.labels == item.labels && stored.annotations == item.annotations {
                    outcome = ApplyOutcome(key: item.key, action: .unchanged, generation: stored.generation, resourceVersion: stored.resourceVersion)
                } else {
                    let generation = stored.spec == item.spec ? stored.generation : stored.generation + 1
                    outcome = ApplyOutcome(key: item.key, action: .configured, generation: generation, resourceVersion: next)
                    changed += 1
                }
            } else {
                outcome = ApplyOutcome(key: item.key, action: .created, generation: 1, resourceVersion: next)
                changed += 1
            }
            writes.append(PlannedWrite(item: item, existing: stored, outcome: outcome))
        }
        return (writes, changed)
    }

    /// Seconds since 1970 as stored in timestamp columns (REAL, double precision).
    static func timestamp(_ date: Date) -> Double { date.timeIntervalSince1970 }

    /// A date from a timestamp column.
    static func date(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

    /// Decodes a kind name, or throws `.corrupt`.
    static func kind(_ raw: String) throws -> ResourceKind {
        guard let kind = ResourceKind(rawValue: raw) else {
            throw StoreError(
                .corrupt,
                "the database holds an unknown kind \"\(raw)\"; it was written by a newer or incompatible meshrelay, upgrade meshrelay or restore a backup"
            )
        }
        return kind
    }

    /// The stored resource of one row's columns.
    static func resource(
        key: ResourceKey, uid: String, labels: String?, annotations: String?, spec: String, generation: Int64, resourceVersion: Int64,
        createdAt: Double, updatedAt: Double, decoder: JSONDecoder
    ) throws -> StoredResource {
        do {
            let metadata = ObjectMeta(
                name: key.name,
                namespace: key.namespace,
                labels: try labels.map { try decoder.decode([String: String].self, from: Data($0.utf8)) },
                annotations: try annotations.map { try decoder.decode([String: String].self, from: Data($0.utf8)) }
            )
            return StoredResource(
                resource: Resource(metadata: metadata, spec: try ResourceSpec.decode(kind: key.kind, json: Data(spec.utf8))),
                uid: uid, generation: generation, resourceVersion: resourceVersion,
                createdAt: date(createdAt), updatedAt: date(updatedAt), specJSON: spec
            )
        } catch {
            throw StoreError(
                .corrupt,
                "stored \(key) cannot be decoded: \(error); the database was edited by hand or written by an incompatible meshrelay, restore a backup or delete and re-apply the resource"
            )
        }
    }

    /// The state of a per-resource status row, or `.corrupt`.
    static func state(_ raw: String, key: ResourceKey, cluster: String) throws -> ClusterResourceState {
        guard let state = ClusterResourceState(rawValue: raw) else {
            throw StoreError(.corrupt, "unknown state \"\(raw)\" for \(key) in cluster \(cluster); upgrade meshrelay or restore a backup")
        }
        return state
    }

    /// An SQL expression ordering rows by `ResourceKind.applyOrder` of the kind in `column`, so
    /// that SQL results come out in ``ResourceKey`` order (kind, namespace, name). The same text
    /// works in SQLite and PostgreSQL.
    static func kindOrder(_ column: String) -> String {
        let cases = ResourceKind.allCases
            .map { "WHEN '\($0.rawValue)' THEN \($0.applyOrder)" }
            .joined(separator: " ")
        return "CASE \(column) \(cases) ELSE \(ResourceKind.allCases.count) END"
    }

    /// The `applied_steps` column: `FROM-TO@MILLISECONDS` entries separated by `,` (milliseconds
    /// since 1970 UTC); NULL for none.
    ///
    /// Written with every cluster record (a fan-out to 1,000 agents commits 1,000 of them ten times
    /// a second), so the digits are written directly: string interpolation of the numbers was 7 %
    /// of the server's CPU in that fan-out.
    static func appliedStepsText(_ steps: [AppliedStep]) -> String? {
        guard !steps.isEmpty else { return nil }
        // Into the string's own storage: appending to an array checked its uniqueness and
        // capacity per digit, and was still 4 % of the server's CPU in that fan-out.
        return String(unsafeUninitializedCapacity: steps.count * maximumStepLength) { buffer in
            var end = 0
            for step in steps {
                if end > 0 {
                    buffer[end] = UInt8(ascii: ",")
                    end += 1
                }
                end = writeDecimal(step.from, into: buffer, at: end)
                buffer[end] = UInt8(ascii: "-")
                end = writeDecimal(step.to, into: buffer, at: end + 1)
                buffer[end] = UInt8(ascii: "@")
                end = writeDecimal(Int64((step.at.timeIntervalSince1970 * 1000).rounded()), into: buffer, at: end + 1)
            }
            return end
        }
    }

    /// The longest entry: three 19-digit numbers, their two separators and the `,` before it.
    private static let maximumStepLength = 3 * 19 + 3

    /// Writes the decimal digits of `value` at `start` and returns the index after them
    /// (revisions and times since 1970 are never negative; a negative value is written as 0).
    private static func writeDecimal(_ value: Int64, into buffer: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        let value = UInt64(max(0, value))
        var digits = 1
        var power: UInt64 = 10
        while digits < 19, value >= power {
            digits += 1
            power &*= 10
        }
        var rest = value
        var index = start + digits
        let end = index
        repeat {
            index -= 1
            buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        } while index > start
        return end
    }

    /// Decodes the `applied_steps` column, or throws `.corrupt`.
    static func appliedSteps(_ text: String?, cluster: String) throws -> [AppliedStep] {
        guard let text, !text.isEmpty else { return [] }
        return try text.split(separator: ",").map { entry in
            let parts = entry.split(separator: "@")
            let range = parts.first?.split(separator: "-") ?? []
            guard parts.count == 2, range.count == 2, let from = Int64(range[0]), let to = Int64(range[1]),
                let milliseconds = Int64(parts[1])
            else {
                throw StoreError(.corrupt, "cluster \(cluster) has an unreadable applied step \"\(entry)\"; restore a backup")
            }
            return AppliedStep(from: from, to: to, at: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
        }
    }

    /// Keeps the last record per (cluster, key), in first-seen order: one statement cannot
    /// upsert the same row twice.
    static func lastPerRow(_ records: [ResourceStatusRecord]) -> [ResourceStatusRecord] {
        var index: [String: Int] = [:]
        var result: [ResourceStatusRecord] = []
        result.reserveCapacity(records.count)
        for record in records {
            let id = "\(record.cluster)\u{0}\(record.key.kind.rawValue)\u{0}\(record.key.namespace)\u{0}\(record.key.name)"
            if let at = index[id] {
                result[at] = record
            } else {
                index[id] = result.count
                result.append(record)
            }
        }
        return result
    }
}
