import Foundation
public import Logging
import MeshRelayPKI
import MeshRelayProtocol
public import ServiceLifecycle

/// Renews the agent's certificate at a fraction of its lifetime (two thirds by default) through
/// the enrolment listener, with the current certificate as credential. The relay session is not
/// touched: the new certificate is used from the next connection on (``RelayAgent`` reloads
/// changed files per connection). Failures are retried with backoff (5 s … 5 min) while the
/// current certificate is still valid (docs/operations.md, certificates).
public final class CertificateRenewer: Service, Sendable {
    let cluster: String
    let directory: String
    let server: RelayAddress
    let fraction: Double
    let minimumSpacing: Duration
    let logger: Logger

    /// - Parameters:
    ///   - fraction: Renew once this share of the lifetime (notBefore → notAfter) has passed.
    ///   - minimumSpacing: Never renew twice within this (a tiny fraction must not loop).
    public init(cluster: String, directory: String, server: RelayAddress, fraction: Double = 2.0 / 3.0, minimumSpacing: Duration = .seconds(60), logger: Logger) {
        self.cluster = cluster
        self.directory = directory
        self.server = server
        self.fraction = fraction
        self.minimumSpacing = minimumSpacing
        self.logger = logger
    }

    /// When the current certificate is due for renewal (nil when it cannot be read).
    func due() -> Date? {
        guard let data = FileManager.default.contents(atPath: directory + "/\(cluster).crt"),
            let summary = try? CertificateSummary.read(pem: String(decoding: data, as: UTF8.self)).first
        else { return nil }
        return summary.notBefore.addingTimeInterval(summary.notAfter.timeIntervalSince(summary.notBefore) * fraction)
    }

    public func run() async throws {
        var backoff = ReconnectBackoff(base: .seconds(5), cap: .seconds(300))
        var rng = SystemRandomNumberGenerator()
        var lastRenewal: ContinuousClock.Instant?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            var wait: Duration = .seconds(60)
            if let due = due() {
                let now = Date()
                let sinceLast = lastRenewal.map { $0.duration(to: .now) } ?? .seconds(Int64.max / 2)
                if now < due {
                    wait = .seconds(min(due.timeIntervalSince(now), 3600))
                } else if sinceLast < minimumSpacing {
                    wait = minimumSpacing - sinceLast
                } else {
                    do {
                        let notAfter = try await EnrollmentClient.renew(cluster: cluster, server: server, directory: directory)
                        logger.notice("certificate renewed", metadata: ["agent.cluster": "\(cluster)", "certificate.not_after": "\(notAfter)"])
                        lastRenewal = .now
                        backoff.reset()
                        continue
                    } catch {
                        wait = backoff.nextDelay(using: &rng)
                        logger.warning("certificate renewal failed; retrying", metadata: ["enroll.server": "\(server)", "error": "\(error.message)", "retry.delay": "\(wait)"])
                    }
                }
            } else {
                logger.warning("cannot read the agent certificate to plan its renewal", metadata: ["agent.certs_dir": "\(directory)"])
            }
            let delay = wait
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
        }
    }
}
