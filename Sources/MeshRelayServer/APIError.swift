import Foundation
public import Hummingbird
import MeshRelayModel
import MeshRelayStore

/// The Kubernetes `Status` object (`kind: Status`, `apiVersion: v1`): every error, and the result
/// of a delete, has this shape.
public struct APIStatus: Codable, Sendable, Hashable {
    /// One reason of a failure: a field of a resource, or a place in the input.
    public struct Cause: Codable, Sendable, Hashable {
        /// Machine-readable rule (`hostsXorAddresses`, `SyntaxError`, …).
        public var reason: String
        public var message: String
        /// Field path within the resource, e.g. `spec.ports[0].number`.
        public var field: String?
        /// The resource the cause belongs to, e.g. `ExternalService global/google`.
        public var resource: String?
        /// 1-based position in the request body (syntax errors).
        public var line: Int?
        public var column: Int?

        public init(reason: String, message: String, field: String? = nil, resource: String? = nil, line: Int? = nil, column: Int? = nil) {
            self.reason = reason
            self.message = message
            self.field = field
            self.resource = resource
            self.line = line
            self.column = column
        }
    }

    public struct Details: Codable, Sendable, Hashable {
        public var kind: String?
        public var namespace: String?
        public var name: String?
        public var causes: [Cause]?

        public init(kind: String? = nil, namespace: String? = nil, name: String? = nil, causes: [Cause]? = nil) {
            self.kind = kind
            self.namespace = namespace
            self.name = name
            self.causes = causes
        }
    }

    public var kind: String = "Status"
    public var apiVersion: String = "v1"
    /// `Success` or `Failure`.
    public var status: String
    public var message: String
    /// Kubernetes-style reason: `Unauthorized`, `BadRequest`, `Invalid`, `NotFound`, …
    public var reason: String
    public var code: Int
    public var details: Details?

    public init(status: String, message: String, reason: String, code: Int, details: Details? = nil) {
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
        self.details = details
    }
}

/// An API failure, rendered as a Kubernetes `Status` JSON body.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var body: APIStatus

    public init(_ status: HTTPResponse.Status, reason: String, message: String, details: APIStatus.Details? = nil) {
        self.status = status
        self.body = APIStatus(status: "Failure", message: message, reason: reason, code: status.code, details: details)
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try jsonResponse(body, status: status)
    }

    static func unauthorized() -> APIError {
        APIError(.unauthorized, reason: "Unauthorized", message: "a valid admin token is required: send 'Authorization: Bearer <token>' (the server's --token-file, by default DATA_DIR/admin.token)")
    }

    static func notFound(_ key: ResourceKey) -> APIError {
        APIError(
            .notFound, reason: "NotFound", message: "\(key.kind.singular) \(key.namespace)/\(key.name) not found",
            details: .init(kind: key.kind.rawValue, namespace: key.namespace, name: key.name)
        )
    }

    static func badRequest(_ message: String) -> APIError {
        APIError(.badRequest, reason: "BadRequest", message: message)
    }

    /// Maps a manifest error: syntax → 400 with line and column, violations → 422 listing all.
    static func manifest(_ error: ManifestError) -> APIError {
        switch error {
        case .syntax(let line, let column, let message):
            return APIError(
                .badRequest, reason: "BadRequest",
                message: "cannot parse the request body: line \(line), column \(column): \(message)",
                details: .init(causes: [.init(reason: "SyntaxError", message: message, line: line, column: column)])
            )
        case .invalid(let violations):
            let causes = violations.map {
                APIStatus.Cause(reason: $0.rule, message: $0.message, field: $0.field.isEmpty ? nil : $0.field, resource: $0.resource)
            }
            let summary = violations.prefix(3).map(\.description).joined(separator: "; ")
            let more = violations.count > 3 ? "; and \(violations.count - 3) more" : ""
            return APIError(
                .unprocessableContent, reason: "Invalid",
                message: "\(violations.count) violation\(violations.count == 1 ? "" : "s"), nothing was stored: \(summary)\(more)",
                details: .init(causes: causes)
            )
        case .empty:
            return APIError(.badRequest, reason: "BadRequest", message: "the request body holds no resource")
        }
    }

    /// Maps a store failure to 503 (the store is unusable) or 500.
    static func store(_ error: any Error) -> APIError {
        if let storeError = error as? StoreError {
            switch storeError.code {
            case .invalidInput:
                return APIError(.unprocessableContent, reason: "Invalid", message: storeError.message)
            default:
                return APIError(.serviceUnavailable, reason: "ServiceUnavailable", message: "the store failed, nothing was changed: \(storeError.message)")
            }
        }
        return APIError(.internalServerError, reason: "InternalError", message: "internal error, nothing was changed: \(error)")
    }
}

let apiJSONEncoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
}()

/// Encodes a value as an `application/json` response.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let data = try apiJSONEncoder.encode(value)
    var buffer = ByteBuffer()
    buffer.writeBytes(data)
    buffer.writeString("\n")
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
}

/// An `application/json` response from already-serialized bytes.
func jsonResponse(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
    var buffer = ByteBuffer()
    buffer.reserveCapacity(bytes.count + 1)
    buffer.writeBytes(bytes)
    buffer.writeString("\n")
    return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
}
