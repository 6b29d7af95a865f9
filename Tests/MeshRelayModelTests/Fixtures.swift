@testable import MeshRelayModel
import MeshRelayTesting

/// Manifests used across the tests. The two ExternalServices are the Gloo guide's, verbatim.
enum Fixtures {
    static let google = SeedManifests.google

    static let googleWildcard = SeedManifests.googleWildcard

    static let endpoint = """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalEndpoint
        metadata:
          name: google-ep
          namespace: global
          labels:
            external-service: google
        spec:
          address: 142.250.0.1
          ports:
            - name: http
              number: 80
            - name: https
              number: 443
          locality:
            region: us-east1
            zone: us-east1-b
        """

    static let workspace = """
        apiVersion: admin.gloo.solo.io/v2
        kind: Workspace
        metadata:
          name: mgmt
          namespace: gloo-mesh
        spec:
          workloadClusters:
            - name: '*'
              namespaces:
                - name: '*'
        """

    static let cluster = """
        apiVersion: admin.gloo.solo.io/v2
        kind: KubernetesCluster
        metadata:
          name: cluster-1
          namespace: gloo-mesh
        spec:
          clusterDomain: cluster.local
        """

    /// An ExternalService in `global` named `test`, with `spec` lines inserted (indented by 2).
    static func externalService(name: String = "test", namespace: String = "global", spec: String) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalService
        metadata:
          name: \(name)
          namespace: \(namespace)
        spec:
        \(indent(spec, by: 2))
        """
    }

    /// An ExternalEndpoint in `global` named `ep`, with `spec` lines inserted.
    static func externalEndpoint(spec: String) -> String {
        """
        apiVersion: networking.gloo.solo.io/v2
        kind: ExternalEndpoint
        metadata:
          name: ep
          namespace: global
        spec:
        \(indent(spec, by: 2))
        """
    }

    static func indent(_ text: String, by count: Int) -> String {
        let prefix = String(repeating: " ", count: count)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { prefix + $0 }.joined(separator: "\n")
    }

    /// The only document of `text`, decoded.
    static func decode(_ text: String) throws -> ResourceDecoder.Outcome {
        let documents = try ManifestParser.parse(text)
        guard documents.count == 1, let document = documents.first else {
            throw FixtureError.notOneDocument(documents.count)
        }
        return ResourceDecoder.decode(document)
    }

    /// Every violation `Manifest.load` reports for `text` (empty when it loads).
    static func violations(_ text: String) -> [Violation] {
        do {
            _ = try Manifest.load(text)
            return []
        } catch {
            if case .syntax = error {
                return [Violation(resource: "(syntax)", field: "", rule: "syntax", message: error.description)]
            }
            return error.violations
        }
    }

    enum FixtureError: Error {
        case notOneDocument(Int)
    }
}
