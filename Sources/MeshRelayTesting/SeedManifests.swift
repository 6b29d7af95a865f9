import MeshRelayModel

/// Manifests shared by the test suites. `google` and `googleWildcard` are the two ExternalServices
/// of the Gloo Mesh guide "Route to an external service directly" (shared/seeds), verbatim.
public enum SeedManifests {
    /// The guide's first ExternalService: `www.google.com`, port 80 HTTP, in `global`.
    public static let google = GuideManifests.google

    /// The guide's second ExternalService: `*.google.com`, port 80 HTTP, in `bookinfo`.
    public static let googleWildcard = GuideManifests.googleWildcard

    /// A `KubernetesCluster` registering a workload cluster.
    public static func cluster(_ name: String, namespace: String = "gloo-mesh") -> String {
        GuideManifests.cluster(name, namespace: namespace)
    }

    /// An ExternalService with one host and one HTTPS port.
    public static func externalService(name: String, namespace: String = "global", host: String, port: Int = 443) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: \(name)
          namespace: \(namespace)
        spec:
          hosts:
          - "\(host)"
          ports:
          - name: https
            number: \(port)
            protocol: HTTPS
        """
    }

    /// Documents joined into one multi-document stream.
    public static func stream(_ documents: [String]) -> String { GuideManifests.stream(documents) }
}
