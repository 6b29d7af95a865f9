import Foundation

/// Where a ``PostgresStore`` lives: parsed from `--store postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`
/// (`postgresql://` too). The password may also come from a file (`--store-password-file`), so
/// that it stays out of process listings.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS, as libpq's `sslmode` names it.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it (libpq's default).
        case prefer
        /// TLS or no connection (the certificate is verified against the system trust store).
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    public init(host: String, port: Int = 5432, username: String, password: String? = nil, database: String, tls: TLSMode = .prefer) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
    }

    /// Parses a `postgres://` URL.
    /// - Throws: ``StoreError`` `.invalidInput` saying which part is wrong.
    public init(url: String) throws(StoreError) {
        let example = "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]"
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw StoreError(.invalidInput, "--store \(Self.redacted(url)) is not a PostgreSQL URL; write \(example)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw StoreError(.invalidInput, "--store \(Self.redacted(url)) names no host; write \(example)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw StoreError(.invalidInput, "--store \(Self.redacted(url)) names no user; write \(example)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreError(.invalidInput, "--store \(Self.redacted(url)) names no database (the path after the host); write \(example)")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw StoreError(
                        .invalidInput,
                        "--store: sslmode=\(item.value ?? "") is not supported; use \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                tls = mode
            default:
                throw StoreError(.invalidInput, "--store: unknown parameter \(item.name); only sslmode is understood")
            }
        }
        let port = components.port ?? 5432
        guard (1...65535).contains(port) else {
            throw StoreError(.invalidInput, "--store: port \(port) is out of range")
        }
        self.init(
            host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port, username: user,
            password: components.password?.removingPercentEncoding ?? components.password, database: database, tls: tls
        )
    }

    /// Whether `argument` asks for PostgreSQL (rather than the embedded SQLite store).
    public static func isPostgresURL(_ argument: String) -> Bool {
        let lower = argument.lowercased()
        return lower.hasPrefix("postgres://") || lower.hasPrefix("postgresql://")
    }

    /// The URL without its password, for logs and errors.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(username)@\(hostPart):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// `url` with any password replaced by `***`.
    static func redacted(_ url: String) -> String {
        guard let at = url.firstIndex(of: "@"), let schemeEnd = url.range(of: "://")?.upperBound, schemeEnd < at else { return url }
        let userInfo = url[schemeEnd..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}
