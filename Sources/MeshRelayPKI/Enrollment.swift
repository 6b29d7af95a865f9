public import Crypto
public import Foundation
import MeshRelayTransport
import SwiftASN1
public import X509

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
