import MeshRelayProtocol
import Testing

@Suite("ReconnectBackoff")
struct ReconnectBackoffTests {
    @Test("ceilings double from the base and stop at the cap")
    func ceilings() {
        let backoff = ReconnectBackoff()
        let expected: [Duration] = [
            .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1_600), .milliseconds(3_200),
            .milliseconds(6_400), .milliseconds(12_800), .milliseconds(25_600), .seconds(30), .seconds(30),
        ]
        #expect((0..<10).map(backoff.ceiling(forAttempt:)) == expected)
        #expect(backoff.ceiling(forAttempt: 10_000) == .seconds(30))
        #expect(backoff.ceiling(forAttempt: Int.max) == .seconds(30))
    }

    @Test("every delay is in [0, min(cap, base·2ⁿ)] and never above the cap")
    func bounds() {
        var rng = SessionTestRandom(seed: 42)
        var backoff = ReconnectBackoff()
        for attempt in 0..<200 {
            let ceiling = backoff.ceiling(forAttempt: attempt)
            let delay = backoff.nextDelay(using: &rng)
            #expect(delay >= .zero && delay <= ceiling && delay <= .seconds(30), "attempt \(attempt): \(delay)")
        }
        #expect(backoff.attempt == 200)
    }

    @Test("full jitter: delays spread over the whole range, and their mean grows with the attempt")
    func fullJitter() {
        var rng = SessionTestRandom(seed: 7)
        func sample(attempt: Int) -> [Duration] {
            (0..<500).map { _ in
                var backoff = ReconnectBackoff()
                for _ in 0..<attempt {
                    _ = backoff.nextDelay(using: &rng)
                }
                return backoff.nextDelay(using: &rng)
            }
        }
        let capped = sample(attempt: 12)
        #expect(capped.contains { $0 < .seconds(3) })
        #expect(capped.contains { $0 > .seconds(27) })
        func mean(_ delays: [Duration]) -> Duration { delays.reduce(.zero, +) / delays.count }
        let means = [0, 2, 4, 6].map { mean(sample(attempt: $0)) }
        #expect(means == means.sorted())
        #expect(means[0] < .milliseconds(150) && means[0] > .milliseconds(50))
    }

    @Test("reset starts over from the base")
    func reset() {
        var rng = SessionTestRandom(seed: 1)
        var backoff = ReconnectBackoff(base: .milliseconds(100), cap: .seconds(5))
        for _ in 0..<10 {
            _ = backoff.nextDelay(using: &rng)
        }
        #expect(backoff.ceiling(forAttempt: backoff.attempt) == .seconds(5))
        backoff.reset()
        #expect(backoff.attempt == 0)
        #expect(backoff.nextDelay(using: &rng) <= .milliseconds(100))
    }

    @Test("a zero base or cap gives zero delays")
    func zero() {
        var rng = SessionTestRandom(seed: 3)
        var noBase = ReconnectBackoff(base: .zero, cap: .seconds(1))
        var noCap = ReconnectBackoff(base: .seconds(1), cap: .zero)
        #expect(noBase.nextDelay(using: &rng) == .zero)
        #expect(noCap.nextDelay(using: &rng) == .zero)
    }
}

@Suite("ReconnectPlanner")
struct ReconnectPlannerTests {
    @Test("no addresses: no planner")
    func empty() {
        #expect(ReconnectPlanner<String>(addresses: []) == nil)
    }

    @Test("failures walk the address list with growing backoff; retryAfter is a floor")
    func failures() throws {
        var rng = SessionTestRandom(seed: 11)
        var planner = try #require(ReconnectPlanner(addresses: ["a:7443", "b:7443", "c:7443"]))
        #expect(planner.currentAddress == "a:7443")
        var addresses: [String] = []
        for attempt in 0..<4 {
            let ceiling = planner.backoff.ceiling(forAttempt: attempt)
            let step = try #require(planner.next(after: .afterBackoff(minimum: .zero), using: &rng))
            #expect(step.delay <= ceiling)
            addresses.append(step.address)
        }
        #expect(addresses == ["b:7443", "c:7443", "a:7443", "b:7443"])
        let refused = try #require(planner.next(after: .afterBackoff(minimum: .seconds(60)), using: &rng))
        #expect(refused.delay == .seconds(60))
    }

    @Test("drain: the next address at once, without advancing the backoff")
    func drain() throws {
        var rng = SessionTestRandom(seed: 5)
        var planner = try #require(ReconnectPlanner(addresses: ["a", "b", "c"]))
        let step = try #require(planner.next(after: .nextAddressNow, using: &rng))
        #expect(step.address == "b" && step.delay == .zero)
        #expect(planner.backoff.attempt == 0)
    }

    @Test("every server drains in turn: one immediate hop per address, then backoff until a session is established")
    func drainLoopIsBounded() throws {
        var rng = SessionTestRandom(seed: 9)
        var planner = try #require(ReconnectPlanner(addresses: ["a", "b"]))
        #expect(planner.next(after: .nextAddressNow, using: &rng)?.delay == .zero)
        #expect(planner.next(after: .nextAddressNow, using: &rng)?.delay == .zero)
        _ = planner.next(after: .nextAddressNow, using: &rng)
        #expect(planner.backoff.attempt == 1)
        planner.sessionEstablished()
        #expect(planner.backoff.attempt == 0)
        #expect(planner.next(after: .nextAddressNow, using: &rng)?.delay == .zero)
    }

    @Test("stop: no reconnect")
    func stop() throws {
        var rng = SessionTestRandom(seed: 2)
        var planner = try #require(ReconnectPlanner(addresses: ["a"]))
        #expect(planner.next(after: .stop, using: &rng) == nil)
        #expect(planner.currentAddress == "a")
    }
}
