import Crypto
import Foundation
import Hummingbird
public import Logging
import MeshRelayModel
public import MeshRelayPKI
public import MeshRelayStore
import MeshRelayTransport
import NIOCore
import NIOSSL
import X509

/// The enrolment listener's request context: the peer's address goes into the log.
struct EnrollmentContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }
}

/// Bootstrap tokens: `mrt.` and 43 base64url characters (32 random bytes). Only their SHA-256
/// is stored (docs/security.md).
public enum BootstrapToken {
    /// A new token's text (shown once) and its hash (stored).
    public static func generate() -> (text: String, hash: String) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = "mrt." + Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return (text, hash(text))
    }

    /// Lowercase hex SHA-256 of the token text.
    public static func hash(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Default and largest lifetime of a token.
    public static let defaultTTL: Duration = .seconds(3600)
    public static let maximumTTL: Duration = .seconds(7 * 86400)
}

/// An agent's enrolment: a bootstrap token for one registered cluster and a CSR made on the agent
/// become a certificate for exactly that cluster. Refusals say the same thing whatever the cause,
/// so that nobody learns which clusters exist; the server log says which cluster was claimed.
public struct Enrollment: Sendable {
    struct Request: Decodable {
        var cluster: String
        var token: String
        var csr: String
    }

    struct Reply: Encodable {
        var certificate: String
        var ca: String
        var notAfter: String
    }

    static let refusal = "enrolment refused: the bootstrap token is not valid for this cluster (unknown, already used, expired, or issued for another cluster); create a new one with `meshrelay token create --cluster NAME`"

    let store: any ResourceStore
    /// `ca.crt` (the trust bundle: one or more CAs) and `ca.key` (the signing CA), read for every
    /// request: during a CA rotation the bundle agents get, the CAs renewals are checked against
    /// and the CA that signs follow the files without a restart (docs/operations.md).
    let folder: CertificateDirectory
    let leafDays: Int
    let logger: Logger

    /// - Throws: ``PKIError`` when the folder's CA cannot be loaded now.
    public init(store: any ResourceStore, folder: CertificateDirectory, leafDays: Int, logger: Logger) throws(PKIError) {
        _ = try folder.authority()
        self.store = store
        self.folder = folder
        self.leafDays = leafDays
        self.logger = logger
    }

    var caPEM: String { (try? String(contentsOfFile: folder.file("ca.crt"), encoding: .utf8)) ?? "" }

    /// The signing CA as the files say now.
    func authority() -> (CertificateAuthority?, String) {
        do {
            return (try folder.authority(), "")
        } catch {
            logger.error("the CA in the certificate folder cannot be loaded", metadata: ["error": "\(error.message)"])
            return (nil, error.message)
        }
    }

    /// One renewal: the agent's current certificate and key vouch for the new CSR.
    func renew(_ request: RenewalRequest, peer: String, now: Date = Date()) async -> (status: HTTPResponse.Status, body: [String: String]) {
        let bundle = caPEM
        let trusted = CertificateAuthority.certificates(inBundle: bundle)
        let (loaded, problem) = authority()
        guard let authority = loaded else { return (.serviceUnavailable, ["message": "renewal unavailable: \(problem)"]) }
        let certificate: Certificate
        do throws(PKIError) {
            certificate = try await authority.signRenewal(request, trusted: trusted, days: leafDays, now: now)
        } catch {
            logger.warning("renewal refused", metadata: ["agent.cluster": "\(request.cluster)", "relay.peer": "\(peer)", "error": "\(error.message)"])
            return (.forbidden, ["message": "renewal refused: \(error.message)"])
        }
        do {
            guard try await store.list(kind: .kubernetesCluster, namespace: nil).contains(where: { $0.key.name == request.cluster }) else {
                logger.warning("renewal refused: cluster not registered", metadata: ["agent.cluster": "\(request.cluster)", "relay.peer": "\(peer)"])
                return (.forbidden, ["message": "renewal refused: the cluster is not registered"])
            }
            let pem = try certificate.serializeAsPEM().pemString + "\n"
            logger.notice(
                "agent certificate renewed",
                metadata: ["agent.cluster": "\(request.cluster)", "relay.peer": "\(peer)", "certificate.not_after": "\(RFC3339.string(from: certificate.notValidAfter))"]
            )
            return (.ok, ["certificate": pem, "ca": bundle, "notAfter": RFC3339.string(from: certificate.notValidAfter)])
        } catch {
            logger.error("renewal failed", metadata: ["agent.cluster": "\(request.cluster)", "error": "\(error)"])
            return (.serviceUnavailable, ["message": "renewal failed on the server (\(error)); retry later"])
        }
    }

    /// One enrolment: the HTTP status and the JSON body.
    func enroll(_ request: Request, peer: String, now: Date = Date()) async -> (status: HTTPResponse.Status, body: [String: String]) {
        guard ClusterIdentity.isDNSLabel(request.cluster) else {
            return (.badRequest, ["message": "cluster \"\(request.cluster)\" is not a DNS-1123 label"])
        }
        // The request is checked before the token is spent: a malformed CSR can be fixed and sent
        // again with the same token.
        let (loaded, problem) = authority()
        guard let authority = loaded else { return (.serviceUnavailable, ["message": "enrolment unavailable: \(problem)"]) }
        let certificate: Certificate
        do {
            certificate = try authority.signEnrollment(csrPEM: request.csr, cluster: request.cluster, days: leafDays, now: now)
        } catch {
            logger.warning("enrolment refused: bad certificate request", metadata: ["agent.cluster": "\(request.cluster)", "relay.peer": "\(peer)", "error": "\(error.message)"])
            return (.unprocessableContent, ["message": "enrolment refused: \(error.message)"])
        }
        do {
            let redeemed = try await store.redeemBootstrapToken(hash: BootstrapToken.hash(request.token), cluster: request.cluster, now: now)
            let registered = try await store.list(kind: .kubernetesCluster, namespace: nil).contains { $0.key.name == request.cluster }
            guard redeemed, registered else {
                logger.warning("enrolment refused: invalid bootstrap token", metadata: ["agent.cluster": "\(request.cluster)", "relay.peer": "\(peer)"])
                return (.forbidden, ["message": Self.refusal])
            }
            let pem = try certificate.serializeAsPEM().pemString + "\n"
            logger.notice(
                "agent enrolled",
                metadata: [
                    "agent.cluster": "\(request.cluster)", "relay.peer": "\(peer)", "certificate.not_after": "\(RFC3339.string(from: certificate.notValidAfter))",
                ]
            )
            return (.ok, ["certificate": pem, "ca": caPEM, "notAfter": RFC3339.string(from: certificate.notValidAfter)])
        } catch {
            logger.error("enrolment failed", metadata: ["agent.cluster": "\(request.cluster)", "error": "\(error)"])
            return (.serviceUnavailable, ["message": "enrolment failed on the server (\(error)); retry later"])
        }
    }

    /// The router of the enrolment listener: `POST /enroll` and `POST /renew` only.
    func makeRouter() -> Router<EnrollmentContext> {
        let router = Router(context: EnrollmentContext.self)
        router.post("/enroll") { request, context -> Response in
            try await Self.handle(request, context, as: Request.self, shape: "{\"cluster\": …, \"token\": …, \"csr\": PEM}") { parsed, peer in
                await self.enroll(parsed, peer: peer)
            }
        }
        router.post("/renew") { request, context -> Response in
            try await Self.handle(request, context, as: RenewalRequest.self, shape: "{\"cluster\", \"certificate\", \"csr\", \"signature\"}") { parsed, peer in
                await self.renew(parsed, peer: peer)
            }
        }
        return router
    }

    /// Reads a JSON body of at most 64 KiB as `T` and answers what `action` decides (413 or 400
    /// for a body that is too large or not of that shape).
    static func handle<T: Decodable>(
        _ request: Hummingbird.Request, _ context: EnrollmentContext, as type: T.Type, shape: String,
        _ action: (T, String) async -> (status: HTTPResponse.Status, body: [String: String])
    ) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 << 10)
        } catch {
            return try jsonResponse(["message": "the request body is larger than 64 KiB"], status: .contentTooLarge)
        }
        guard let parsed = try? JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView)) else {
            return try jsonResponse(["message": "the body must be JSON \(shape)"], status: .badRequest)
        }
        let (status, body) = await action(parsed, context.remoteAddress.map { "\($0)" } ?? "unknown")
        return try jsonResponse(body, status: status)
    }

    /// The enrolment listener: HTTPS with the server certificate (reloaded when it changes), no
    /// client certificate, the listener limits.
    static func application(
        enrollment: Enrollment, host: String, port: Int, certificatesDirectory: String, limits: HTTPListenerLimits, logger: Logger,
        onListening: @escaping @Sendable (Int) async -> Void
    ) throws -> some ApplicationProtocol {
        Application(
            router: enrollment.makeRouter(),
            server: try .guarded(tlsCertificatesDirectory: certificatesDirectory, limits: limits, listener: "enrolment", logger: logger),
            configuration: .init(address: .hostname(host, port: port), serverName: "meshrelay-enroll"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("enrolment listening", metadata: ["enroll.address": "\(host):\(bound)"])
                await onListening(bound)
            },
            logger: logger
        )
    }
}
