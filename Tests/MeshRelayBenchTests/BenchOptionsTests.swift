import ArgumentParser
import Testing

@testable import MeshRelayBench

@Suite("Bench command-line options")
struct BenchOptionsTests {
    private func parses(_ arguments: [String]) -> Bool {
        (try? BenchCommand.parseAsRoot(arguments)) != nil
    }

    @Test func theInterfaceOfTheIssueParses() throws {
        let fanout = try #require(try BenchCommand.parseAsRoot(["fanout", "--agents", "1000", "--writes", "50", "--json"]) as? FanoutCommand)
        #expect(fanout.agents == 1000)
        #expect(fanout.writes == 50)
        #expect(fanout.common.json)
        #expect(parses(["initial-sync", "--agents", "100", "--resources", "10000"]))
        #expect(parses(["reconnect", "--agents", "1000"]))
        #expect(parses(["reconnect", "--agents", "10", "--kill"]))
        #expect(parses(["churn", "--agents", "500", "--rate", "200", "--seconds", "60"]))
        #expect(parses(["memory", "--agents", "1000"]))
    }

    @Test func outOfRangeNumbersAreRefused() {
        #expect(!parses(["fanout", "--agents", "0"]))
        #expect(!parses(["fanout", "--agents", "20001"]))
        #expect(!parses(["fanout", "--writes", "0"]))
        #expect(!parses(["churn", "--rate", "0"]))
        #expect(!parses(["churn", "--seconds", "-1"]))
        #expect(!parses(["initial-sync", "--resources", "0"]))
        #expect(!parses(["fanout", "--timeout", "0"]))
        #expect(!parses(["fanout", "--threads", "0"]))
        #expect(!parses(["fanout", "--server-log-level", "loud"]))
        #expect(!parses(["fanout", "--heartbeat-interval", "0.01"]))
    }

    @Test func anExistingServerNeedsItsRelayCertificatesAndToken() {
        let existing = ["--api", "http://127.0.0.1:9091", "--relay", "127.0.0.1:9900", "--certs-dir", "/tmp/c", "--token-file", "/tmp/t"]
        #expect(parses(["fanout"] + existing))
        #expect(parses(["initial-sync"] + existing))
        #expect(!parses(["fanout", "--api", "http://127.0.0.1:9091"]))
        #expect(!parses(["fanout", "--api", "http://127.0.0.1:9091", "--relay", "nope", "--certs-dir", "/c", "--token-file", "/t"]))
        #expect(!parses(["fanout", "--relay", "127.0.0.1:9900"]))
        #expect(!parses(["fanout", "--meshrelay", "/bin/true"] + existing))
        // These restart or measure the server process itself.
        #expect(!parses(["reconnect"] + existing))
        #expect(!parses(["memory"] + existing))
    }

    @Test func hostAndPort() throws {
        let ipv4 = try CommonOptions.hostAndPort("127.0.0.1:9900")
        #expect(ipv4.0 == "127.0.0.1" && ipv4.1 == 9900)
        let ipv6 = try CommonOptions.hostAndPort("[::1]:443")
        #expect(ipv6.0 == "::1" && ipv6.1 == 443)
        #expect(throws: BenchError.self) { try CommonOptions.hostAndPort("127.0.0.1") }
        #expect(throws: BenchError.self) { try CommonOptions.hostAndPort(":80") }
        #expect(throws: BenchError.self) { try CommonOptions.hostAndPort("h:70000") }
    }
}
