import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// A small HTTP/1.1 client for the management server's API: one request per connection.
struct APIClient: Sendable {
    let host: String
    let port: Int
    let basePath: String
    let baseURL: String
    let token: String?
    let timeout: Duration
    /// For `https://`: trusts `caFile` (or the system's roots) and checks the server's name.
    let tls: NIOSSLContext?

    /// - Parameters:
    ///   - url: `http://HOST:PORT[/prefix]` or `https://…` (a server started with `--api-tls`).
    ///   - token: Bearer token for mutations; `nil` to send none.
    ///   - caFile: For https: the CA to trust (the relay's `ca.crt`); nil: the system's roots.
    init(url: String, token: String?, timeout: Duration = .seconds(300), caFile: String? = nil) throws(CLIError) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
            throw .usage("--api \(url) is not a URL; expected http://HOST:PORT or https://HOST:PORT")
        }
        switch components.scheme {
        case "http":
            tls = nil
        case "https":
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv12
            configuration.renegotiationSupport = .none
            do {
                if let caFile { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
                tls = try NIOSSLContext(configuration: configuration)
            } catch {
                throw .usage("--ca-file \(caFile ?? "(system roots)") cannot be used for https: \(error)")
            }
        default:
            throw .usage("--api \(url): the scheme must be http:// or https://")
        }
        self.host = host
        self.port = components.port ?? (tls == nil ? 80 : 443)
        self.basePath = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        self.baseURL = url
        self.token = token
        self.timeout = timeout
    }

    struct Reply: Sendable {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// Sends one request and collects the whole reply.
    /// - Throws: ``CLIError`` with exit code 3 when the server cannot be reached or does not answer.
    func send(
        _ method: HTTPMethod, _ path: String, body: [UInt8]? = nil, contentType: String = "application/yaml",
        accept: String = "application/json"
    ) async throws(CLIError) -> Reply {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "User-Agent", value: "meshrelay-cli/\(MeshRelayVersion.current)")
        headers.add(name: "Accept", value: accept)
        if let token {
            headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if body != nil {
            headers.add(name: "Content-Type", value: contentType)
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: basePath + path, headers: headers)
        do throws(HTTPExchange.Failure) {
            let reply = try await HTTPExchange.perform(host: host, port: port, head: head, body: body, timeout: timeout, tls: tls)
            return Reply(status: reply.status, body: reply.body)
        } catch {
            switch error {
            case .timedOut:
                throw .unreachable("the meshrelay server at \(baseURL) did not answer within \(timeout)")
            case .noAnswer:
                throw .unreachable("the meshrelay server at \(baseURL) closed the connection without answering")
            case .failed(let reason):
                throw .unreachable(
                    "cannot reach the meshrelay server at \(baseURL): \(reason); is `meshrelay server` running? Point to it with --api or MESHRELAY_API"
                )
            }
        }
    }
}
