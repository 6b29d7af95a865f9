public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The certificate folder one local setup shares: `ca.crt`, `ca.key` (0600), `server.crt`,
/// `server.key` (0600) and `NAME.crt`, `NAME.key` per cluster — the layout
/// `meshrelay server --certs-dir DIR` and `meshrelay agent --certs-dir DIR --cluster NAME` read.
public struct CertificateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public func file(_ name: String) -> String { path + "/" + name }

    /// Makes a CA and a server certificate and writes the four files.
    ///
    /// - Throws: ``PKIError`` `.exists` when any of them exists and `force` is false (nothing is
    ///   written then), `.io`, and what issuing throws.
    @discardableResult
    public func initialize(
        serverNames: [String] = [], caDays: Int = CertificateAuthority.defaultCADays, serverDays: Int = CertificateAuthority.defaultLeafDays,
        force: Bool = false, now: Date = Date()
    ) throws(PKIError) -> CertificateAuthority {
        let files = ["ca.crt", "ca.key", "server.crt", "server.key"]
        if !force { try refuseExisting(files) }
        let authority = try CertificateAuthority.create(days: caDays, now: now)
        let server = try authority.issue(.server(names: serverNames), days: serverDays, now: now)
        try createDirectory()
        try write(try authority.privateKeyPEM, to: "ca.key", secret: true)
        try write(try authority.certificatePEM, to: "ca.crt", secret: false)
        try write(server.privateKeyPEM, to: "server.key", secret: true)
        try write(server.certificatePEM, to: "server.crt", secret: false)
        return authority
    }

    /// The CA of this folder (`ca.crt` and `ca.key`).
    ///
    /// - Throws: ``PKIError`` `.io` when a file is missing (run `meshrelay certs init` first),
    ///   `.invalidPEM`.
    public func authority() throws(PKIError) -> CertificateAuthority {
        try CertificateAuthority(certificatePEM: try read("ca.crt"), privateKeyPEM: try read("ca.key"))
    }

    /// Issues the agent certificate of `cluster` and writes `NAME.crt` and `NAME.key`.
    ///
    /// - Throws: ``PKIError`` `.exists` without `force`, and what ``authority()`` and issuing throw.
    @discardableResult
    public func issueAgent(cluster: String, days: Int = CertificateAuthority.defaultLeafDays, force: Bool = false, now: Date = Date()) throws(PKIError)
        -> IssuedCertificate
    {
        let files = ["\(cluster).crt", "\(cluster).key"]
        let authority = try authority()
        let issued = try authority.issue(.agent(cluster: cluster), days: days, now: now)
        if !force { try refuseExisting(files) }
        try write(issued.privateKeyPEM, to: files[1], secret: true)
        try write(issued.certificatePEM, to: files[0], secret: false)
        return issued
    }

    func refuseExisting(_ names: [String]) throws(PKIError) {
        let existing = names.filter { FileManager.default.fileExists(atPath: file($0)) }
        guard existing.isEmpty else {
            throw PKIError(.exists, "\(existing.map(file).joined(separator: ", ")) already exist(s); nothing was written. Pass --force to replace them, or use another --dir")
        }
    }

    func createDirectory() throws(PKIError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PKIError(.io, "cannot create \(path): \(error.localizedDescription)")
        }
    }

    func read(_ name: String) throws(PKIError) -> String {
        guard let data = FileManager.default.contents(atPath: file(name)) else {
            throw PKIError(.io, "cannot read \(file(name)); make the folder with `meshrelay certs init --dir \(path)`")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes through a temporary file renamed into place, so a reader never sees half a key;
    /// keys are created 0600 (never readable by others, not even for a moment).
    func write(_ text: String, to name: String, secret: Bool) throws(PKIError) {
        let target = file(name)
        let temporary = path + "/.\(name).\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0o600 : 0o644)
        guard descriptor >= 0 else {
            throw PKIError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress.map { $0 + written }, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(descriptor)
                unlink(temporary)
                throw PKIError(.io, "cannot write \(temporary): \(reason)")
            }
            written += result
        }
        fchmod(descriptor, secret ? 0o600 : 0o644)
        fsync(descriptor)
        close(descriptor)
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw PKIError(.io, "cannot rename \(temporary) to \(target): \(reason)")
        }
    }
}
