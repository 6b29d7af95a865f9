import Foundation
import Testing

@testable import MeshRelayFuzz

/// Inputs the manifest fuzzer found (scripts/fuzz.sh manifests) and its seeds, replayed through
/// the same target on every test run: parse, decode, validate, and the YAML round trip.
@Suite struct ManifestFuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    @Test func everyCorpusInputRunsWithoutCrashing() throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)) ?? []
        #expect(!files.isEmpty, "the corpus folder holds the fuzzer's findings")
        for file in files.sorted() where !file.hasPrefix(".") {
            ManifestFuzzTarget.run(Array(try Data(contentsOf: Self.corpus.appendingPathComponent(file))))
        }
    }

    @Test func theSeedsDecodeAndRoundTrip() {
        for seed in ManifestFuzzTarget.seeds {
            ManifestFuzzTarget.run(Array(seed.utf8))
        }
    }
}
