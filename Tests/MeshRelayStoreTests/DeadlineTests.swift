import Dispatch
import Foundation
import Testing

@testable import MeshRelayStore

/// The bound of every PostgreSQL call: the caller returns at the deadline even when the
/// operation ignores cancellation (a task group would wait for it).
@Suite("PostgresStore.withDeadline")
struct DeadlineTests {
    struct TimedOut: Error {}

    @Test func anOperationThatIgnoresCancellationDoesNotHoldTheCaller() async throws {
        let started = ContinuousClock.now
        await #expect(throws: TimedOut.self) {
            try await PostgresStore.withDeadline(.milliseconds(200), {
                // Three seconds no cancellation can shorten.
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().asyncAfter(deadline: .now() + 3) { continuation.resume() }
                }
                return 1
            }, timedOut: { TimedOut() })
        }
        #expect(started.duration(to: .now) < .seconds(2))
    }

    @Test func aResultOrErrorBeforeTheDeadlineIsReturned() async throws {
        #expect(try await PostgresStore.withDeadline(.seconds(10), { 7 }, timedOut: { TimedOut() }) == 7)
        struct Failed: Error {}
        await #expect(throws: Failed.self) {
            try await PostgresStore.withDeadline(.seconds(10), { () async throws -> Int in throw Failed() }, timedOut: { TimedOut() })
        }
    }
}
