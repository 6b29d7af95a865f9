/// The YAML the harness applies: cluster registrations, a Workspace, ExternalServices.
enum BenchManifests {
    /// The namespace of every ExternalService the harness writes.
    static let namespace = "bench"

    /// The name of simulated cluster `number` (1-based) of `count`: `cluster-0001` … (at least
    /// four digits, more when `count` needs them), so that names sort in order.
    static func clusterName(_ number: Int, of count: Int) -> String {
        let width = max(4, String(max(count, 1)).count)
        let digits = String(number)
        return "cluster-" + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// The names of `count` clusters.
    static func clusterNames(count: Int) -> [String] {
        (0..<max(0, count)).map { self.clusterName($0 + 1, of: count) }
    }

    /// One `KubernetesCluster` per name and a Workspace sending the bench namespace to every
    /// registered cluster.
    static func registration(clusters: [String]) -> String {
        var documents = clusters.map { name in
            """
            apiVersion: admin.gloo.solo.io/v2
            kind: KubernetesCluster
            metadata:
              name: \(name)
              namespace: gloo-mesh
            spec:
              clusterDomain: cluster.local
            """
        }
        documents.append(
            """
            apiVersion: admin.gloo.solo.io/v2
            kind: Workspace
            metadata:
              name: meshrelay-bench
              namespace: gloo-mesh
            spec:
              workloadClusters:
              - name: "*"
                namespaces:
                - name: \(self.namespace)
            """
        )
        return documents.joined(separator: "\n---\n")
    }

    /// An ExternalService of the bench namespace; `host` is what the harness changes per write.
    static func externalService(name: String, host: String, port: Int = 443) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: \(name)
          namespace: \(self.namespace)
          labels:
            app: meshrelay-bench
        spec:
          hosts:
          - "\(host)"
          ports:
          - name: https
            number: \(port)
            protocol: HTTPS
          - name: http
            number: 80
            protocol: HTTP
          selector: {}
        """
    }

    /// `count` ExternalServices `PREFIX-0` … in one multi-document stream.
    static func externalServices(prefix: String, count: Int, generation: String) -> String {
        (0..<max(0, count)).map { index in
            self.externalService(name: "\(prefix)-\(index)", host: "\(prefix)-\(index)-\(generation).example.com")
        }.joined(separator: "\n---\n")
    }
}
