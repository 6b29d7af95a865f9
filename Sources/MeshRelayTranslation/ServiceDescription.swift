public import MeshRelayModel

/// What one ExternalService becomes in one cluster, for `meshrelay describe`: the endpoints its
/// selector picks, its warnings, and for every host:port it asks for, who wins it.
public struct ServiceDescription: Sendable, Hashable {
    /// One host (or address) and port the service asks for, and every service in the cluster
    /// asking for it, in precedence order: the first wins.
    public struct Claim: Sendable, Hashable {
        /// `www.google.com:80`, `10.0.0.0/8:443`.
        public var target: String
        public var claimants: [ResourceKey]
        public var winner: ResourceKey? { claimants.first }
    }

    public var service: ResourceKey
    /// Why the service is left out entirely (it breaks a validation rule), if it is.
    public var failure: String?
    public var selectedEndpoints: [ResourceKey]
    public var warnings: [String]
    public var claims: [Claim]
    /// The claims another service also makes (who wins a shared host:port).
    public var conflicts: [Claim] { claims.filter { $0.claimants.count > 1 } }
}

extension Translator {
    /// How `service` is translated among everything in `input` (one cluster's view); nil when the
    /// service is not in it.
    public static func describe(_ service: ResourceKey, in input: TranslationInput) -> ServiceDescription? {
        let plan = makePlan(input)
        guard let servicePlan = plan.services.first(where: { $0.service.key == service }) else { return nil }
        var seen = Set<ResourceKey>()
        let ordered = input.services.filter { seen.insert($0.key).inserted }.sorted(by: precedes)
        func claims(of candidate: SnapshotService) -> [ClaimKey] {
            let destinations: [Destination] =
                (candidate.spec.hosts ?? []).map { .host($0) }
                + (candidate.spec.addresses ?? []).compactMap { CIDRRange($0).map { .address($0) } }
            return destinations.flatMap { destination in (candidate.spec.ports ?? []).map { ClaimKey(destination: destination, port: $0.number) } }
        }
        var claimants: [ClaimKey: [ResourceKey]] = [:]
        for candidate in ordered {
            // A service that fails validation claims nothing (it is not applied).
            guard plan.services.first(where: { $0.service.key == candidate.key })?.failure == nil else { continue }
            for claim in claims(of: candidate) where claimants[claim]?.last != candidate.key {
                claimants[claim, default: []].append(candidate.key)
            }
        }
        var described: [ServiceDescription.Claim] = []
        var listed = Set<ClaimKey>()
        for claim in claims(of: servicePlan.service) where listed.insert(claim).inserted {
            described.append(.init(target: "\(claim.destination.text):\(claim.port)", claimants: claimants[claim] ?? [service]))
        }
        return ServiceDescription(
            service: service, failure: servicePlan.failure, selectedEndpoints: servicePlan.selected.map(\.key).sorted(),
            warnings: servicePlan.warnings, claims: described
        )
    }
}
