/// The Gloo Mesh guide "Route to an external service directly" (shared/seeds) as manifests:
/// `google` and `googleWildcard` verbatim, and what `meshrelay demo` and the tests add around them
/// (cluster registrations, ExternalEndpoints standing in for the internet).
public enum GuideManifests {
    /// The guide's first ExternalService: `www.google.com`, port 80 HTTP, in `global`.
    public static let google = """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: google
          namespace: global
        spec:
          hosts:
          - "www.google.com"
          ports:
          - name: http
            number: 80
            protocol: HTTP
          selector: {}
        """

    /// The guide's second ExternalService: `*.google.com`, port 80 HTTP, in `bookinfo`.
    public static let googleWildcard = """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: google-wildcard
          namespace: bookinfo
        spec:
          hosts:
          - "*.google.com"
          ports:
          - name: http
            number: 80
            protocol: HTTP
          selector: {}
        """

    /// A `KubernetesCluster` registering a workload cluster.
    public static func cluster(_ name: String, namespace: String = "gloo-mesh") -> String {
        """
        apiVersion: admin.gloo.solo.io/v2
        kind: KubernetesCluster
        metadata:
          name: \(name)
          namespace: \(namespace)
        spec:
          clusterDomain: cluster.local
        """
    }

    /// An ExternalEndpoint standing in for the internet: `label` selects it.
    public static func endpoint(_ name: String, namespace: String, label: String, address: String = "127.0.0.1", port: Int) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalEndpoint
        metadata:
          name: \(name)
          namespace: \(namespace)
          labels:
            stands-in-for: \(label)
        spec:
          address: \(address)
          ports:
          - name: http
            number: \(port)
        """
    }

    /// The guide's manifest with `selector: {}` (no endpoint selected: its hosts would be
    /// resolved by DNS, and the demo does not rely on the internet) pointed at a local endpoint.
    public static func pinned(_ manifest: String, to label: String) -> String {
        manifest.replacingOccurrences(of: "selector: {}", with: "selector:\n    stands-in-for: \(label)")
    }

    /// Documents joined into one multi-document stream.
    public static func stream(_ documents: [String]) -> String { documents.joined(separator: "\n---\n") }
}
