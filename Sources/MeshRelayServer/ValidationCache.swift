import MeshRelayModel
import MeshRelayStore
import Synchronization

/// Re-validation results of stored resources, by uid and generation.
///
/// Resources are validated when written; re-validating what is stored only matters after an
/// upgrade changed the rules (state INVALID). The result of a spec generation never changes within
/// one process, so each is computed once instead of on every status or list request.
public final class ValidationCache: Sendable {
    private struct Entry {
        var generation: Int64
        var resourceVersion: Int64
        var message: String?
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// The violations of a stored resource as one message, or `nil` when it is valid.
    func problems(of stored: StoredResource) -> String? {
        if let entry = entries.withLock({ $0[stored.uid] }), entry.generation == stored.generation,
            entry.resourceVersion == stored.resourceVersion
        {
            return entry.message
        }
        let violations = Validator.validate(stored.resource)
        let message = violations.isEmpty ? nil : violations.map(\.description).joined(separator: "; ")
        entries.withLock {
            $0[stored.uid] = Entry(generation: stored.generation, resourceVersion: stored.resourceVersion, message: message)
        }
        return message
    }
}
