import Foundation
import Testing

@testable import MeshRelayStore

/// The `applied_steps` column's text, written digit by digit into the string's storage.
@Suite("StoreCoding applied steps")
struct AppliedStepsCodingTests {
    @Test func noStepsIsNull() {
        #expect(StoreCoding.appliedStepsText([]) == nil)
    }

    @Test func theTextIsTheDocumentedLayout() {
        let steps = [
            AppliedStep(from: 0, to: 9, at: Date(timeIntervalSince1970: 0)),
            AppliedStep(from: 10, to: 100, at: Date(timeIntervalSince1970: 1_764_651_600.123)),
        ]
        #expect(StoreCoding.appliedStepsText(steps) == "0-9@0,10-100@1764651600123")
    }

    @Test(arguments: [Int64(0), 1, 9, 10, 11, 99, 100, 999_999, 1_000_000, 999_999_999_999_999_999, 1_000_000_000_000_000_000, .max - 1, .max])
    func everyNumberOfDigitsRoundTrips(_ value: Int64) throws {
        let step = AppliedStep(from: value, to: value, at: Date(timeIntervalSince1970: 1_764_651_600.5))
        let text = try #require(StoreCoding.appliedStepsText([step]))
        #expect(text == "\(value)-\(value)@1764651600500")
        #expect(try StoreCoding.appliedSteps(text, cluster: "c") == [step])
    }

    @Test func aNegativeNumberIsWrittenAsZero() {
        let step = AppliedStep(from: -5, to: .min, at: Date(timeIntervalSince1970: -1))
        #expect(StoreCoding.appliedStepsText([step]) == "0-0@0")
    }

    @Test func manyStepsOfTheLongestNumbersFitAndRoundTrip() throws {
        let steps = (0..<16).map { index in
            AppliedStep(from: .max - Int64(index) - 1, to: .max - Int64(index), at: Date(timeIntervalSince1970: 4_102_444_800 + Double(index)))
        }
        let text = try #require(StoreCoding.appliedStepsText(steps))
        #expect(text.split(separator: ",").count == 16)
        #expect(try StoreCoding.appliedSteps(text, cluster: "c") == steps)
    }
}
