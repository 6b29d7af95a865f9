import Foundation
@testable import MeshRelayServer
import Testing

/// The pure evaluation behind `meshrelay check`: thresholds and what each failing line says.
@Suite struct StatusChecksTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func time(_ offset: TimeInterval) -> String { RFC3339Text.string(now.addingTimeInterval(offset)) }

    static func report(
        clusters: [StatusReport.Cluster], resources: [StatusReport.ResourceEntry] = [], certificates: [StatusReport.CertificateEntry] = []
    ) -> StatusReport {
        StatusReport(
            revision: 200, compactedRevision: 0, generatedAt: time(0), clusters: clusters, resources: resources, certificates: certificates
        )
    }

    static func cluster(_ name: String, connected: Bool = true, applied: Int64 = 200) -> StatusReport.Cluster {
        StatusReport.Cluster(
            name: name, registered: true, connected: connected, appliedRevision: applied, lag: 200 - applied,
            lastSeen: time(-30), agentVersion: "0.1.0", outboundPolicy: "REGISTRY_ONLY"
        )
    }

    static func pending(_ name: String, in cluster: String, since: TimeInterval) -> StatusReport.ResourceEntry {
        StatusReport.ResourceEntry(
            kind: "ExternalService", namespace: "global", name: name, generation: 2, state: .pending, message: "0/1 clusters applied",
            clusters: [.init(name: cluster, state: .pending, message: "waiting", observedGeneration: 1, since: time(since))]
        )
    }

    static func failing(_ results: [StatusChecks.Result]) -> [String: [String]] {
        Dictionary(uniqueKeysWithValues: results.filter { !$0.passed }.map { ($0.name, $0.details) })
    }

    @Test func allWellPassesEveryCheck() {
        let results = StatusChecks.evaluate(report: Self.report(clusters: [Self.cluster("c1")]), storeProblem: nil, limits: .init(), now: Self.now)
        #expect(results.map(\.name) == ["server", "store", "agents", "dataPlanes", "lag", "failed", "warnings", "certificates"])
        #expect(results.allSatisfy { $0.passed })
    }

    @Test func lagInRevisionsAndInTimeFailTheLagCheckOnlyForConnectedClusters() {
        let report = Self.report(
            clusters: [Self.cluster("c1", applied: 50), Self.cluster("c2"), Self.cluster("c3", connected: false, applied: 0)],
            resources: [
                Self.pending("slow", in: "c2", since: -90), Self.pending("fresh", in: "c2", since: -10), Self.pending("away", in: "c3", since: -900),
            ]
        )
        let failed = Self.failing(StatusChecks.evaluate(report: report, storeProblem: nil, limits: .init(), now: Self.now))
        #expect(failed["lag"] == ["c1: 150 revisions behind (applied 50 of 200)", "c2: ExternalService global/slow pending for 90 s"])
        #expect(failed["agents"] == ["c3: disconnected since \(Self.time(-30))"])
        // Thresholds move the line.
        let relaxed = Self.failing(
            StatusChecks.evaluate(
                report: report, storeProblem: nil, limits: .init(maximumLagRevisions: 200, maximumPendingSeconds: 120), now: Self.now
            )
        )
        #expect(relaxed["lag"] == nil)
    }

    @Test func storeAndCertificatesAndUnhealthyDataPlanesFailTheirLines() {
        var sick = Self.cluster("c1")
        sick.dataPlane = "UNHEALTHY"
        sick.dataPlaneMessage = "Envoy is not running"
        sick.certificateExpires = Self.time(86400 * 10 + 60)
        let report = Self.report(
            clusters: [sick],
            certificates: [
                .init(file: "ca.crt", subject: "O=meshrelay,CN=meshrelay CA", notAfter: Self.time(86400 * 3000), daysLeft: 3000),
                .init(file: "server.crt", subject: "O=meshrelay,CN=localhost", notAfter: Self.time(-86400), daysLeft: -1),
            ]
        )
        let failed = Self.failing(StatusChecks.evaluate(report: report, storeProblem: "store not ready: disk I/O error", limits: .init(), now: Self.now))
        #expect(failed["store"] == ["store not ready: disk I/O error"])
        #expect(failed["dataPlanes"] == ["c1: Envoy is not running"])
        #expect(
            failed["certificates"]
                == [
                    "server server.crt (O=meshrelay,CN=localhost): EXPIRED on \(Self.time(-86400))",
                    "agent of c1: expires in 10 days (\(Self.time(86400 * 10 + 60)))",
                ]
        )
    }

    @Test func anUnreachableServerIsOneFailedLine() {
        let results = StatusChecks.unreachable("connection refused")
        #expect(results.count == 1 && !results[0].passed && results[0].details == ["connection refused"])
    }
}

/// RFC 3339 as the server writes it.
enum RFC3339Text {
    static func string(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle()) }
}
