public import Foundation
import MeshRelayModel
import MeshRelayPKI

/// What the status report takes from outside the store: the server's own certificate files and
/// the client certificates of the sessions this replica holds.
public struct LiveStatus: Sendable {
    /// The `--certs-dir` (`ca.crt`, `server.crt`); nil without a relay.
    public var certificatesDirectory: String?
    /// When the client certificate of each cluster's session here expires (``RelayHub/agentCertificates()``).
    public var agentCertificates: @Sendable () -> [String: Date]

    public init(certificatesDirectory: String? = nil, agentCertificates: @escaping @Sendable () -> [String: Date] = { [:] }) {
        self.certificatesDirectory = certificatesDirectory
        self.agentCertificates = agentCertificates
    }

    /// Every certificate of `ca.crt` (a bundle during a CA rotation) and `server.crt`, read now:
    /// a replaced file shows at once. A file that cannot be read is left out (the relay logs it).
    func certificates(now: Date) -> [StatusReport.CertificateEntry] {
        guard let directory = certificatesDirectory else { return [] }
        return ["ca.crt", "server.crt"].flatMap { file -> [StatusReport.CertificateEntry] in
            guard let data = FileManager.default.contents(atPath: directory + "/" + file),
                let summaries = try? CertificateSummary.read(pem: String(decoding: data, as: UTF8.self))
            else { return [] }
            return summaries.map {
                StatusReport.CertificateEntry(file: file, subject: $0.subject, notAfter: RFC3339.string(from: $0.notAfter), daysLeft: $0.daysLeft(now: now))
            }
        }
    }
}
