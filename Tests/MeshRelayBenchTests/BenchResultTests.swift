import Foundation
import Testing

@testable import MeshRelayBench

@Suite("Bench results and percentiles")
struct BenchResultTests {
    @Test func nearestRankPercentiles() {
        let samples = (1...100).map(Double.init).shuffled()
        let summary = LatencySummary(milliseconds: samples)
        #expect(summary.count == 100)
        #expect(summary.p50 == 50)
        #expect(summary.p99 == 99)
        #expect(summary.max == 100)
    }

    @Test func percentilesOfFewSamples() {
        let one = LatencySummary(milliseconds: [7])
        #expect(one.count == 1 && one.p50 == 7 && one.p99 == 7 && one.max == 7)
        let two = LatencySummary(milliseconds: [3, 1])
        #expect(two.p50 == 1)
        #expect(two.p99 == 3)
        #expect(LatencySummary.percentile(0, ofSorted: [1, 2, 3]) == 1)
        #expect(LatencySummary.percentile(100, ofSorted: [1, 2, 3]) == 3)
    }

    @Test func fanoutFiguresShareOneShapeWithSamplesAndACDF() {
        var result = BenchResult(scenario: "etcd-fanout")
        result.setFanout(agents: 3, writes: 2, lastAgent: [10, 20.5], perAgent: [1, 2, 3, 4, 5, 6], write: [])
        let line = result.jsonLine
        #expect(line.hasPrefix(#"{"scenario":"etcd-fanout","agents":3,"writes":2,"p50_ms":10,"p99_ms":20.5,"max_ms":20.5,"#))
        #expect(line.contains(#""samples_ms":[10,20.5]"#))
        #expect(!line.contains("api_"))
        guard case .numbers(let cdf) = result["agent_cdf_ms"] else {
            Issue.record("agent_cdf_ms is a list")
            return
        }
        #expect(cdf.count == 101)
        #expect(cdf.first == 1 && cdf.last == 6 && cdf[50] == 3)
        #expect(cdf == cdf.sorted())
    }

    @Test func etcdGatewayRevisionsAreRead() {
        let event = #"{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"1234","raft_term":"2"},"events":[{"kv":{"mod_revision":"1234"}}]}}"#
        #expect(EtcdScenario.headerRevision(in: Array(event.utf8)) == 1234)
        #expect(EtcdScenario.headerRevision(in: Array(#"{"header":{"revision":""}}"#.utf8)) == nil)
        #expect(EtcdScenario.headerRevision(in: Array("no revision".utf8)) == nil)
        #expect(EtcdScenario.base64("/meshrelay-bench/") == "L21lc2hyZWxheS1iZW5jaC8=")
    }

    @Test func emptySamplesReportZeros() {
        let none = LatencySummary(milliseconds: [])
        #expect(none.count == 0 && none.p50 == 0 && none.p99 == 0 && none.max == 0)
    }

    @Test func jsonLineKeepsTheScenarioFirstAndTheOrderOfKeys() throws {
        var result = BenchResult(scenario: "fanout")
        result.set("agents", 1000)
        result.set("writes", 50)
        result.set(prefix: "", LatencySummary(milliseconds: [1.25, 2.5, 40.0004]))
        result.set("kill", .bool(false))
        result.set("agents", 999)  // replaced in place
        #expect(
            result.jsonLine
                == #"{"scenario":"fanout","agents":999,"writes":50,"p50_ms":2.5,"p99_ms":40,"max_ms":40,"kill":false}"#
        )
        let object = try JSONSerialization.jsonObject(with: Data(result.jsonLine.utf8)) as? [String: Any]
        #expect(object?["scenario"] as? String == "fanout")
        #expect(object?["p50_ms"] as? Double == 2.5)
    }

    @Test func numbersAndStringsAreValidJSON() throws {
        #expect(BenchResult.format(0) == "0")
        #expect(BenchResult.format(0.0005) == "0.001")
        #expect(BenchResult.format(-1.5) == "-1.5")
        #expect(BenchResult.format(12.0301) == "12.03")
        #expect(BenchResult.format(.nan) == "null")
        #expect(BenchResult.format(.infinity) == "null")
        var result = BenchResult(scenario: "x")
        result.set("text", .string("a \"quoted\"\\ line\n\u{1}"))
        result.set("none", .null)
        result.set("huge", 1e300)
        let object = try JSONSerialization.jsonObject(with: Data(result.jsonLine.utf8)) as? [String: Any]
        #expect(object?["text"] as? String == "a \"quoted\"\\ line\n\u{1}")
        #expect(object?["none"] is NSNull)
    }

    @Test func firstAckAtOrAfterARevision() {
        let start = ContinuousClock.now
        let acks = [3, 5, 9].map { FleetRecorder.AckEvent(revision: Int64($0), at: start + .milliseconds($0)) }
        #expect(FleetRecorder.firstAck(in: acks, atLeast: 1) == start + .milliseconds(3))
        #expect(FleetRecorder.firstAck(in: acks, atLeast: 5) == start + .milliseconds(5))
        #expect(FleetRecorder.firstAck(in: acks, atLeast: 6) == start + .milliseconds(9))
        #expect(FleetRecorder.firstAck(in: acks, atLeast: 10) == nil)
        #expect(FleetRecorder.firstAck(in: [], atLeast: 1) == nil)
    }

    @Test func lagsCoverCoalescedRevisions() {
        let start = ContinuousClock.now
        var record = FleetRecorder.AgentRecord()
        // Revisions 2 and 3 were coalesced into one UPDATE of revision 3.
        record.acks = [FleetRecorder.AckEvent(revision: 3, at: start + .milliseconds(30))]
        let writes = [(sentAt: start, revision: Int64(2)), (sentAt: start + .milliseconds(10), revision: Int64(3))]
        let lags = Scenarios.lags(writes: writes, records: [record, FleetRecorder.AgentRecord()])
        #expect(lags.map { $0.rounded() } == [30, 20])
    }

    @Test func procParsing() {
        let status = "Name:\tmeshrelay\nVmPeak:\t  200000 kB\nVmRSS:\t   65432 kB\nThreads:\t4\n"
        #expect(ProcessStats.residentBytes(statusText: status) == 65432 * 1024)
        #expect(ProcessStats.residentBytes(statusText: "Name: x\n") == nil)
        let stat = "4242 (mesh relay) S 1 4242 4242 0 -1 4194560 2093 0 0 0 150 25 0 0 20 0 9 0 123 456"
        #expect(ProcessStats.cpuTicks(statText: stat) == 175)
        #expect(ProcessStats.cpuTicks(statText: "garbage") == nil)
        #expect(ProcessStats.residentBytes(pid: getpid()) ?? 0 > 0)
    }

    @Test func reconnectDelayIsShortAndCapped() {
        #expect(ReconnectDelay.afterFailure(attempt: 1, jitter: 1) == .milliseconds(25))
        #expect(ReconnectDelay.afterFailure(attempt: 2, jitter: 1) == .milliseconds(50))
        #expect(ReconnectDelay.afterFailure(attempt: 5, jitter: 1) == .milliseconds(250))
        #expect(ReconnectDelay.afterFailure(attempt: 50, jitter: 1) == .milliseconds(250))
        #expect(ReconnectDelay.afterFailure(attempt: 5, jitter: 0.5) == .milliseconds(125))
    }

    @Test func clusterNamesSortInOrder() {
        #expect(BenchManifests.clusterNames(count: 3) == ["cluster-0001", "cluster-0002", "cluster-0003"])
        #expect(BenchManifests.clusterName(7, of: 20_000) == "cluster-00007")
        let names = BenchManifests.clusterNames(count: 1000)
        #expect(names == names.sorted())
        #expect(names.last == "cluster-1000")
    }
}
