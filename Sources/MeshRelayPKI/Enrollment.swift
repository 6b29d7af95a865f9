public import Crypto
public import Foundation
import MeshRelayTransport
import SwiftASN1
@_spi(FixedExpiryValidationTime) public import X509

/// The certificate signing request an agent sends when it enrols (docs/security.md): a P-256 key
/// made on the agent (never sent), subject CN=cluster, and a request for exactly one name, the
/// cluster identity URI.
public enum EnrollmentRequest {
    /// A PEM CSR for `cluster`, signed by `key`. `extraNames` exists for the security tests (a CSR
    /// asking for more than its identity must be refused).
    public static func make(cluster: String, key: P256.Signing.PrivateKey, extraNames: [GeneralName] = []) throws(PKIError) -> String {
        do {
            let extensions = try Certificate.Extensions {
                SubjectAlternativeNames([.uniformResourceIdentifier(ClusterIdentity.uri(for: cluster))] + extraNames)
            }
            let attributes = CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))])
            let request = try CertificateSigningRequest(
                version: .v1,
                subject: try DistinguishedName { CommonName(cluster) },
                privateKey: Certificate.PrivateKey(key),
                attributes: attributes,
                signatureAlgorithm: .ecdsaWithSHA256
            )
            return try request.serializeAsPEM().pemString + "\n"
        } catch {
            throw PKIError(.signing, "cannot make the certificate request for cluster \(cluster): \(error)")
        }
    }
}

extension EnrollmentRequest {
    /// A CSR and its new key (PEM), asking for the identity of `cluster` plus `extraDNSNames`.
    public static func makeWithNewKey(cluster: String, extraDNSNames: [String] = []) throws(PKIError) -> (csr: String, key: String) {
        let key = P256.Signing.PrivateKey()
        return (try make(cluster: cluster, key: key, extraNames: extraDNSNames.map { .dnsName($0) }), key.pemRepresentation + "\n")
    }
}

extension CertificateAuthority {
    /// Signs an enrolment request for `cluster` (the cluster the bootstrap token grants): the
    /// request must be a valid PEM CSR signed by its own key, and ask for no name other than the
    /// cluster's identity URI. The certificate carries that identity whatever the subject says.
    ///
    /// - Throws: ``PKIError`` `.invalidPEM` (not a CSR, bad signature) or `.invalidName` (a name
    ///   the token does not grant), and what signing throws.
    public func signEnrollment(csrPEM: String, cluster: String, days: Int = defaultLeafDays, now: Date = Date()) throws(PKIError) -> Certificate {
        let request: CertificateSigningRequest
        do {
            request = try CertificateSigningRequest(pemEncoded: csrPEM)
        } catch {
            throw PKIError(.invalidPEM, "the enrolment request is not a PEM certificate signing request: \(error)")
        }
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw PKIError(.invalidPEM, "the enrolment request's signature does not verify with its own public key")
        }
        guard P256.Signing.PublicKey(request.publicKey) != nil else {
            throw PKIError(.invalidPEM, "the enrolment request's key is not ECDSA P-256")
        }
        let requested: SubjectAlternativeNames?
        do {
            requested = try request.attributes.extensionRequest?.extensions.subjectAlternativeNames
        } catch {
            throw PKIError(.invalidPEM, "the enrolment request's extension request cannot be read: \(error)")
        }
        let identity = GeneralName.uniformResourceIdentifier(ClusterIdentity.uri(for: cluster))
        let others = (requested.map(Array.init) ?? []).filter { $0 != identity }
        guard others.isEmpty else {
            throw PKIError(
                .invalidName, "the enrolment request asks for names the token does not grant (\(others.map { "\($0)" }.joined(separator: ", "))); ask only for \(ClusterIdentity.uri(for: cluster))")
        }
        return try sign(.agent(cluster: cluster), publicKey: request.publicKey, days: days, now: now)
    }
}

/// Renewal: an enrolled agent asks for a new certificate with its current one (docs/security.md).
/// The request carries the current certificate, a CSR for a new key, and the current key's
/// signature over the CSR — proof that the holder of the current key asks. No token is needed.
public struct RenewalRequest: Codable, Sendable {
    public var cluster: String
    /// The current certificate (PEM).
    public var certificate: String
    /// A CSR for the new key (PEM).
    public var csr: String
    /// Base64 DER ECDSA signature, by the current key, of the CSR's PEM text (UTF-8).
    public var signature: String

    /// A request signed with the current key; returns it and the new key (PEM).
    public static func make(cluster: String, certificatePEM: String, currentKeyPEM: String) throws(PKIError) -> (request: RenewalRequest, key: String) {
        let current: P256.Signing.PrivateKey
        do {
            current = try P256.Signing.PrivateKey(pemRepresentation: currentKeyPEM)
        } catch {
            throw PKIError(.invalidPEM, "the current key is not a PEM P-256 private key: \(error)")
        }
        let (csr, key) = try EnrollmentRequest.makeWithNewKey(cluster: cluster)
        let signature: P256.Signing.ECDSASignature
        do {
            signature = try current.signature(for: Data(csr.utf8))
        } catch {
            throw PKIError(.signing, "cannot sign the renewal request: \(error)")
        }
        return (RenewalRequest(cluster: cluster, certificate: certificatePEM, csr: csr, signature: signature.derRepresentation.base64EncodedString()), key)
    }
}

extension CertificateAuthority {
    /// Every certificate of a PEM bundle (those that do not parse are skipped).
    public static func certificates(inBundle pem: String) -> [Certificate] {
        ((try? PEMDocument.parseMultiple(pemString: pem)) ?? []).compactMap { try? Certificate(pemDocument: $0) }
    }

    /// Checks a renewal: the current certificate chains to one of `trusted` (the CA bundle, so
    /// that certificates of a CA being rotated out still renew), is valid at `now`, carries the
    /// identity of `request.cluster`, and its key signed the CSR; then signs the CSR like an
    /// enrolment.
    ///
    /// - Throws: ``PKIError`` saying which check failed.
    public func signRenewal(_ request: RenewalRequest, trusted: [Certificate], days: Int = defaultLeafDays, now: Date = Date()) async throws(PKIError)
        -> Certificate
    {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: request.certificate)
        } catch {
            throw PKIError(.invalidPEM, "the current certificate is not PEM: \(error)")
        }
        guard let first = documents.first, let current = try? Certificate(pemDocument: first) else {
            throw PKIError(.invalidPEM, "the renewal request holds no current certificate")
        }
        var verifier = Verifier(rootCertificates: CertificateStore(trusted)) { RFC5280Policy(fixedExpiryValidationTime: now) }
        guard case .validCertificate = await verifier.validate(leaf: current, intermediates: CertificateStore()) else {
            throw PKIError(.invalidName, "the current certificate is not valid now or not issued by a trusted CA (expired? then enrol again with a bootstrap token)")
        }
        let cluster: String
        do {
            cluster = try ClusterIdentity.cluster(fromDER: first.derBytes)
        } catch {
            throw PKIError(.invalidName, "the current certificate carries no cluster identity: \(error.message)")
        }
        guard cluster == request.cluster else {
            throw PKIError(.invalidName, "the current certificate is for cluster \(cluster), not \(request.cluster)")
        }
        guard let publicKey = P256.Signing.PublicKey(current.publicKey), let der = Data(base64Encoded: request.signature),
            let signature = try? P256.Signing.ECDSASignature(derRepresentation: der), publicKey.isValidSignature(signature, for: Data(request.csr.utf8))
        else {
            throw PKIError(.invalidPEM, "the renewal request is not signed by the current certificate's key")
        }
        return try signEnrollment(csrPEM: request.csr, cluster: cluster, days: days, now: now)
    }
}
