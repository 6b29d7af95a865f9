import MeshRelayModel
import Synchronization

/// Decoded resources by key, reused while their row is unchanged.
///
/// Decoding a stored spec (JSON → typed) dominated listing thousands of resources. A row is
/// identified by its `uid` and `resource_version` (the revision of its last change), which never
/// repeat for different content, so a cached value is correct whoever wrote the row (another
/// replica included). Entries of deleted resources are dropped on the next full listing.
final class DecodedResourceCache: Sendable {
    private let entries = Mutex<[ResourceKey: StoredResource]>([:])

    /// The cached resource when it is exactly the row's version.
    func lookup(_ key: ResourceKey, uid: String, resourceVersion: Int64) -> StoredResource? {
        entries.withLock { entries in
            guard let cached = entries[key], cached.uid == uid, cached.resourceVersion == resourceVersion else { return nil }
            return cached
        }
    }

    func store(_ resources: [StoredResource]) {
        guard !resources.isEmpty else { return }
        entries.withLock { entries in
            for resource in resources { entries[resource.key] = resource }
        }
    }

    /// Keeps exactly `resources`: after a listing of everything.
    func replaceAll(with resources: [StoredResource]) {
        let fresh = Dictionary(resources.map { ($0.key, $0) }, uniquingKeysWith: { _, last in last })
        entries.withLock { $0 = fresh }
    }
}

/// One listing read through a ``DecodedResourceCache``: a row already decoded at the same
/// `uid` and `resource_version` is reused, the others are decoded and remembered by ``finish()``.
struct CachedListing {
    let cache: DecodedResourceCache
    private var result: [StoredResource] = []
    private var decoded: [StoredResource] = []

    init(cache: DecodedResourceCache) {
        self.cache = cache
    }

    mutating func add(_ key: ResourceKey, uid: String, resourceVersion: Int64, decode: () throws -> StoredResource) rethrows {
        if let cached = cache.lookup(key, uid: uid, resourceVersion: resourceVersion) {
            result.append(cached)
        } else {
            let resource = try decode()
            result.append(resource)
            decoded.append(resource)
        }
    }

    /// The listing in row order; the newly decoded rows go into the cache.
    func finish() -> [StoredResource] {
        cache.store(decoded)
        return result
    }
}
