/// The desired state of one cluster at a store revision: every resource its agent should hold.
///
/// A view is a value. Many sessions of the same cluster (and many revisions in a row) share the
/// storage of `resources` through copy-on-write, so handing the same view to every session costs
/// one reference each, never a copy.
public struct ClusterView: Sendable, Hashable {
    /// The store revision this view was computed at. Views of one cluster are ordered by it.
    public var revision: Int64
    /// The resources the agent should hold, by key. `resources[k].key == k` for every entry.
    public var resources: [RelayResourceKey: RelayResource]
    /// What decides which resources belong to the view (the server: the namespaces the cluster
    /// receives), when the view's maker states it: two views with the same membership hold every
    /// resource of those namespaces, so one can be reached from the other by the resources whose
    /// version is newer (``difference(from:)-(ClusterView)``). `nil`: unknown.
    public var membership: [String]?

    /// A view from a dictionary keyed by resource key.
    ///
    /// - Parameters:
    ///   - revision: The store revision of the view.
    ///   - resources: The resources by key; each value's `key` must equal its dictionary key.
    ///   - membership: What selects the view's resources (see ``membership``).
    public init(revision: Int64, resources: [RelayResourceKey: RelayResource], membership: [String]? = nil) {
        self.revision = revision
        self.resources = resources
        self.membership = membership
    }

    /// A view from a list of resources; when a key repeats, the last resource wins.
    ///
    /// - Parameters:
    ///   - revision: The store revision of the view.
    ///   - resources: The resources of the view.
    public init(revision: Int64, resources: some Sequence<RelayResource>) {
        var byKey: [RelayResourceKey: RelayResource] = [:]
        for resource in resources {
            byKey[resource.key] = resource
        }
        self.init(revision: revision, resources: byKey)
    }

    /// What an agent holding `held` needs to reach this view.
    ///
    /// A resource is upserted when the agent lacks it or holds another version of it (older or,
    /// after a store restore, newer: the view is the truth); a key the agent holds that the view
    /// lacks is removed. Both lists are sorted by key, so equal inputs give equal updates.
    ///
    /// - Parameter held: The version the agent holds (or has already been sent) of each key.
    /// - Returns: The resources to upsert and the keys to remove, each sorted by key.
    public func difference(
        from held: [RelayResourceKey: Int64]
    ) -> (upserts: [RelayResource], removals: [RelayResourceKey]) {
        var upserts: [RelayResource] = []
        for (key, resource) in self.resources where held[key] != resource.version {
            upserts.append(resource)
        }
        upserts.sort { $0.key < $1.key }
        var removals: [RelayResourceKey] = []
        for key in held.keys where self.resources[key] == nil {
            removals.append(key)
        }
        removals.sort()
        return (upserts, removals)
    }

    /// What an agent holding exactly `known` needs to reach this view, without a lookup per
    /// resource; `nil` when the two views' memberships are unknown or differ.
    ///
    /// A resource's version is the store revision that last changed it, and `known` was listed
    /// after its revision committed: with the same membership, every resource of this view
    /// with a version not above `known.revision` is in `known` at that version. So the upserts
    /// are the resources with a newer version (a resource listed into `known` after its revision
    /// may be sent again, which the agent takes as unchanged), and removals exist only when the
    /// counts say so. The result equals ``difference(from:)-([RelayResourceKey: Int64])`` given
    /// `known`'s versions, both lists sorted by key.
    ///
    /// Under a stream of writes each session compared every resource of its view per update;
    /// this compares versions (integers) and looks up only what changed.
    public func difference(from known: ClusterView) -> (upserts: [RelayResource], removals: [RelayResourceKey])? {
        guard let membership, let knownMembership = known.membership, membership == knownMembership else {
            return nil
        }
        var upserts: [RelayResource] = []
        for resource in self.resources.values where resource.version > known.revision {
            upserts.append(resource)
        }
        upserts.sort { $0.key < $1.key }
        let added = upserts.count { known.resources[$0.key] == nil }
        var removals: [RelayResourceKey] = []
        if known.resources.count + added != self.resources.count {
            for key in known.resources.keys where self.resources[key] == nil {
                removals.append(key)
            }
            removals.sort()
        }
        return (upserts, removals)
    }

    /// The version of every resource of the view, as an agent holding exactly this view has it.
    public var versions: [RelayResourceKey: Int64] {
        self.resources.mapValues(\.version)
    }

    /// The whole view as a snapshot UPDATE (`isSnapshot`, upserts sorted by key, no removals):
    /// the message a ``ServerSessionStateMachine/Action/sendSnapshot(_:)`` stands for.
    public var snapshotUpdate: Update {
        Update(
            revision: self.revision,
            isSnapshot: true,
            upserts: self.resources.values.sorted { $0.key < $1.key },
            removals: []
        )
    }
}
