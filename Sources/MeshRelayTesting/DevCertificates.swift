import Foundation

/// A certificate folder made by `scripts/dev-certs.sh` (real openssl) in a fresh temp directory:
/// `ca.crt`, `server.crt`/`server.key` (SAN localhost, 127.0.0.1) and `NAME.crt`/`NAME.key` per
/// cluster (URI SAN `spiffe://meshrelay/cluster/NAME`).
public struct DevCertificates: Sendable {
    public let directory: String

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/dev-certs.sh").path

    /// Runs the script; throws when it fails.
    public init(clusters: [String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("meshrelay-certs-\(UUID().uuidString)").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [Self.script, directory] + clusters
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DevCertificatesFailure(status: process.terminationStatus)
        }
    }

    /// A file of the folder.
    public func path(_ file: String) -> String { directory + "/" + file }

    /// Deletes the folder.
    public func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// `scripts/dev-certs.sh` failed.
public struct DevCertificatesFailure: Error, CustomStringConvertible {
    public var status: Int32
    public var description: String { "scripts/dev-certs.sh failed with status \(status)" }
}
