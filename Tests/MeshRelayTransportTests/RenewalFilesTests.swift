import Foundation
import MeshRelayAgent
import Testing

/// A key/certificate pair replacement that a crash interrupted is finished or undone, never left
/// mismatched.
@Suite struct RenewalFilesTests {
    static func folder(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-renewal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        return directory
    }

    static func read(_ directory: String) -> [String: String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return Dictionary(uniqueKeysWithValues: names.map { ($0, (try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)) ?? "") })
    }

    @Test(arguments: [
        // Crash after both .next files were written: both go in, key first.
        (["c.key": "old key", "c.crt": "old crt", "c.key.next": "new key", "c.crt.next": "new crt"], ["c.key": "new key", "c.crt": "new crt"]),
        // Crash after the key was renamed: the certificate follows.
        (["c.key": "new key", "c.crt": "old crt", "c.crt.next": "new crt"], ["c.key": "new key", "c.crt": "new crt"]),
        // Crash before the certificate was written: the lone new key is dropped, the old pair stays.
        (["c.key": "old key", "c.crt": "old crt", "c.key.next": "new key"], ["c.key": "old key", "c.crt": "old crt"]),
        // Nothing pending.
        (["c.key": "old key", "c.crt": "old crt"], ["c.key": "old key", "c.crt": "old crt"]),
    ])
    func aPairIsNeverLeftMismatched(before: [String: String], after: [String: String]) throws {
        let directory = try Self.folder(before)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try EnrollmentClient.completeInterruptedRenewal(cluster: "c", directory: directory)
        #expect(Self.read(directory) == after)
    }
}
