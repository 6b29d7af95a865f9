import Foundation
import Testing

@testable import MeshRelayFuzz

/// Inputs the fuzzer found (crashes, timeouts) and hand-made edge cases, replayed through the
/// same targets on every test run: a fixed crash stays fixed.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("FuzzCorpus")

    @Test func everyCorpusInputRunsWithoutCrashing() throws {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)) ?? []
        for file in files.sorted() where !file.hasPrefix(".") {
            FuzzTargets.run(Array(try Data(contentsOf: Self.corpus.appendingPathComponent(file))))
        }
    }

    @Test(arguments: [
        [UInt8](),
        [0, 0, 0, 0, 1, 0, 0, 0],  // an empty HELLO
        [0xff, 0xff, 0xff, 0xff, 4, 0, 0, 0],  // 4 GiB announced
        [0, 0, 0, 2, 99, 0, 0, 0, 0x08, 0x01],  // unknown type, not ignorable
        [0, 0, 0, 2, 99, 1, 0, 0, 0x08, 0x01],  // unknown type, ignorable
        [0, 0, 0, 3, 1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff],  // truncated varint, reserved bits set
    ])
    func edgeCasesRunWithoutCrashing(input: [UInt8]) {
        FuzzTargets.run(input)
    }
}
