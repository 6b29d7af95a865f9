import Dispatch
import Foundation
import Synchronization
import Testing

@testable import MeshRelayStore

/// The bound of every PostgreSQL call: the caller returns at the deadline even when the
/// operation ignores cancellation (a task group would wait for it).
@Suite("PostgresStore.withDeadline")
struct DeadlineTests {
    struct TimedOut: Error {}

    @Test func anOperationThatIgnoresCancellationDoesNotHoldTheCaller() async throws {
        // An operation no cancellation can shorten; the caller must come back while it still runs
        // (checked by its completion flag, not by a clock: tests share two cores).
        let finished = Mutex(false)
        await #expect(throws: TimedOut.self) {
            try await PostgresStore.withDeadline(.milliseconds(200), {
                await withCheckedContinuation { continuation in
                    DispatchQueue.global().asyncAfter(deadline: .now() + 60) {
                        finished.withLock { $0 = true }
                        continuation.resume()
                    }
                }
                return 1
            }, timedOut: { TimedOut() })
        }
        #expect(!finished.withLock { $0 }, "the caller waited for the operation")
    }

    @Test func aResultOrErrorBeforeTheDeadlineIsReturned() async throws {
        #expect(try await PostgresStore.withDeadline(.seconds(10), { 7 }, timedOut: { TimedOut() }) == 7)
        struct Failed: Error {}
        await #expect(throws: Failed.self) {
            try await PostgresStore.withDeadline(.seconds(10), { () async throws -> Int in throw Failed() }, timedOut: { TimedOut() })
        }
    }
}
