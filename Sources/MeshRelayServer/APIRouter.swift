import Foundation
public import Hummingbird
public import Logging
import MeshRelayModel
public import MeshRelayStore
import NIOCore

/// Builds the HTTP API: Kubernetes-style resource paths, batch apply/delete, status, health,
/// readiness and metrics. See docs/api.md.
public struct APIRouter: Sendable {
    let store: any ResourceStore
    let token: AdminToken
    let metrics: ServerMetrics
    let metricsText: @Sendable () -> String
    let maximumBodyBytes: Int
    let logger: Logger
    let onChange: @Sendable (Int64) -> Void
    let validation = ValidationCache()
    /// What the status report takes from outside the store.
    public var live = LiveStatus()
    /// Recent events per resource (`describe`); the relay hub records what agents acknowledged.
    public var events = EventLog()
    /// Commits the status the relay's sessions reported so far (before a status read: a replica
    /// shows at least what its own agents told it; see ``RelayHub/flushStatus()``).
    public var flushStatus: @Sendable () async -> Void = {}

    /// - Parameters:
    ///   - store: Where resources live.
    ///   - token: The admin token mutations must present.
    ///   - metrics: Server metrics.
    ///   - metricsText: Produces the Prometheus exposition text for `/metrics`.
    ///   - maximumBodyBytes: Largest accepted request body.
    ///   - logger: Request log.
    ///   - onChange: Called with the new revision after every write that changed the store (the
    ///     relay recomputes views).
    public init(
        store: any ResourceStore, token: AdminToken, metrics: ServerMetrics,
        metricsText: @escaping @Sendable () -> String, maximumBodyBytes: Int, logger: Logger,
        onChange: @escaping @Sendable (Int64) -> Void = { _ in }
    ) {
        self.onChange = onChange
        self.store = store
        self.token = token
        self.metrics = metrics
        self.metricsText = metricsText
        self.maximumBodyBytes = maximumBodyBytes
        self.logger = logger
    }

    /// The router with every route.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: AccessMiddleware(token: token, metrics: metrics, logger: logger))

        router.get("/") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: StatusPage.html))
            )
        }
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            do {
                try await store.checkHealth()
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
            } catch {
                return Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: "store not ready: \(error)\n")))
            }
        }
        router.get("/metrics") { _, _ -> Response in
            await refreshLagGauges()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: metricsText()))
            )
        }
        router.get("/api/v1/status") { _, _ in try await status() }
        router.get("/api/v1/namespaces/:namespace/externalservices/:name/describe") { _, context in
            try await describe(
                ResourceKey(
                    kind: .externalService, namespace: try context.parameters.require("namespace"), name: try context.parameters.require("name")
                )
            )
        }
        router.post("/api/v1/apply") { request, _ in try await applyBatch(request) }
        router.post("/api/v1/delete") { request, _ in try await deleteBatch(request) }
        router.post("/api/v1/bootstrap-tokens") { request, _ in try await createBootstrapToken(request) }

        let base = "/apis/:group/:version"
        router.get("\(base)/:plural") { request, context in
            try await list(kind: try kind(context), namespace: nil, table: ResourceTable.isRequested(accept: request.headers[.accept]))
        }
        router.get("\(base)/namespaces/:namespace/:plural") { request, context in
            try await list(
                kind: try kind(context), namespace: try context.parameters.require("namespace"),
                table: ResourceTable.isRequested(accept: request.headers[.accept])
            )
        }
        router.post("\(base)/namespaces/:namespace/:plural") { request, context in
            try await applyOne(request, kind: try kind(context), namespace: try context.parameters.require("namespace"), name: nil)
        }
        router.get("\(base)/namespaces/:namespace/:plural/:name") { request, context in
            try await getOne(try key(context), table: ResourceTable.isRequested(accept: request.headers[.accept]))
        }
        router.put("\(base)/namespaces/:namespace/:plural/:name") { request, context in
            let key = try key(context)
            return try await applyOne(request, kind: key.kind, namespace: key.namespace, name: key.name)
        }
        router.delete("\(base)/namespaces/:namespace/:plural/:name") { _, context in
            try await deleteOne(try key(context))
        }
        return router
    }

    // MARK: Path parsing

    private func kind(_ context: BasicRequestContext) throws -> ResourceKind {
        let group = try context.parameters.require("group")
        let version = try context.parameters.require("version")
        let plural = try context.parameters.require("plural")
        guard let kind = ResourceKind.forPath(group: group, version: version, plural: plural) else {
            let known = ResourceKind.allCases.map { "/apis/\($0.group)/\($0.version)/\($0.plural)" }.joined(separator: ", ")
            throw APIError(.notFound, reason: "NotFound", message: "no resource type at \(group)/\(version)/\(plural); known: \(known)")
        }
        return kind
    }

    private func key(_ context: BasicRequestContext) throws -> ResourceKey {
        ResourceKey(
            kind: try kind(context),
            namespace: try context.parameters.require("namespace"),
            name: try context.parameters.require("name")
        )
    }

    // MARK: Handlers

    private func body(_ request: Request) async throws -> String {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maximumBodyBytes)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, reason: "RequestEntityTooLarge", message: "the request body is larger than \(maximumBodyBytes) bytes; split the manifest or raise --max-body-bytes")
        }
        guard let text = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes),
            text.utf8.count == buffer.readableBytes
        else {
            throw APIError.badRequest("the request body is not UTF-8 text")
        }
        return text
    }

    private func timed<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        do {
            let value = try await body()
            let elapsed = ContinuousClock.now - start
            metrics.storeOperation(operation, seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            return value
        } catch let error as APIError {
            throw error
        } catch {
            metrics.storeFailure(operation)
            logger.error("store operation failed", metadata: ["store.operation": "\(operation)", "error": "\(error)"])
            throw APIError.store(error)
        }
    }

    private func loadManifest(_ text: String) throws -> [Resource] {
        do {
            return try Manifest.load(text)
        } catch {
            throw APIError.manifest(error)
        }
    }

    private func apply(_ resources: [Resource]) async throws -> ApplyResult {
        let result = try await timed("apply") { try await store.apply(resources) }
        metrics.revision.record(result.revision)
        for action in [ApplyAction.created, .configured, .unchanged] {
            metrics.appliedResources(action.rawValue, count: result.outcomes.filter { $0.action == action }.count)
        }
        let changed = result.outcomes.filter { $0.action != .unchanged }.count
        if changed > 0 { onChange(result.revision) }
        let now = Date()
        for outcome in result.outcomes where outcome.action != .unchanged {
            events.committed(outcome.key, generation: outcome.generation, at: now)
        }
        logger.info(
            "applied",
            metadata: ["apply.resources": "\(resources.count)", "apply.changed": "\(changed)", "store.revision": "\(result.revision)"]
        )
        return result
    }

    /// `POST /api/v1/bootstrap-tokens` `{"cluster": NAME, "ttlSeconds": N}` → 201 with the token,
    /// shown this once (only its hash is stored).
    private func createBootstrapToken(_ request: Request) async throws -> Response {
        struct Body: Decodable {
            var cluster: String
            var ttlSeconds: Int?
        }
        struct Created: Encodable {
            var kind = "BootstrapToken"
            var cluster: String
            var token: String
            var expiresAt: String
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(try await self.body(request).utf8)) else {
            throw APIError.badRequest("the body must be JSON {\"cluster\": NAME, \"ttlSeconds\": N}")
        }
        let maximum = Int(BootstrapToken.maximumTTL.components.seconds)
        let ttl = body.ttlSeconds ?? Int(BootstrapToken.defaultTTL.components.seconds)
        guard (60...maximum).contains(ttl) else {
            throw APIError.badRequest("ttlSeconds \(ttl) is out of range; give 60…\(maximum) (a token is single-use and should not live long)")
        }
        let registered = try await timed("list") { try await store.list(kind: .kubernetesCluster, namespace: nil) }.contains { $0.key.name == body.cluster }
        guard registered else {
            throw APIError(
                .notFound, reason: "NotFound", message: "cluster \(body.cluster) is not registered; apply its KubernetesCluster first, then create the token")
        }
        let (text, hash) = BootstrapToken.generate()
        let now = Date()
        let expires = now.addingTimeInterval(TimeInterval(ttl))
        try await timed("save token") {
            try await store.saveBootstrapToken(BootstrapTokenRecord(hash: hash, cluster: body.cluster, createdAt: now, expiresAt: expires))
        }
        logger.notice("bootstrap token created", metadata: ["agent.cluster": "\(body.cluster)", "token.expires": "\(RFC3339.string(from: expires))"])
        return try jsonResponse(Created(cluster: body.cluster, token: text, expiresAt: RFC3339.string(from: expires)), status: .created)
    }

    private func applyBatch(_ request: Request) async throws -> Response {
        let text = try await body(request)
        defer {
            if text.utf8.count >= MemoryTrimmer.largeRequestBytes { MemoryTrimmer.trimSoon() }
        }
        let resources = try loadManifest(text)
        let result = try await apply(resources)
        let entries = result.outcomes.map {
            ResultEntry(
                apiVersion: $0.key.kind.apiVersion, kind: $0.key.kind.rawValue, namespace: $0.key.namespace, name: $0.key.name,
                action: $0.action.rawValue, generation: $0.generation, resourceVersion: String($0.resourceVersion)
            )
        }
        return try jsonResponse(BatchResult(kind: "ApplyResult", revision: result.revision, results: entries))
    }

    private func applyOne(_ request: Request, kind: ResourceKind, namespace: String, name: String?) async throws -> Response {
        let resources = try loadManifest(try await body(request))
        guard resources.count == 1, let resource = resources.first else {
            throw APIError.badRequest("this path takes exactly one resource, the body holds \(resources.count); use POST /api/v1/apply for several")
        }
        guard resource.kind == kind, resource.metadata.namespace == namespace, name == nil || resource.metadata.name == name else {
            let path = "\(kind.rawValue) \(namespace)/\(name ?? "*")"
            throw APIError.badRequest("the body's \(resource.key) does not match the path's \(path)")
        }
        let result = try await apply([resource])
        guard let stored = try await timed("get", { try await store.get(resource.key) }) else {
            throw APIError.notFound(resource.key)
        }
        let context = try await timed("status") { await flushStatus(); return try await StatusContext.load(from: store, validation: validation) }
        let created = result.outcomes.first?.action == .created
        return jsonResponse(bytes: ResourceObject.body(stored, context: context), status: created ? .created : .ok)
    }

    private func getOne(_ key: ResourceKey, table: Bool) async throws -> Response {
        guard let stored = try await timed("get", { try await store.get(key) }) else {
            throw APIError.notFound(key)
        }
        let context = try await timed("status") { await flushStatus(); return try await StatusContext.load(from: store, validation: validation) }
        if table {
            return jsonResponse(bytes: ResourceTable.body(kind: key.kind, items: [stored], context: context, now: Date()))
        }
        return jsonResponse(bytes: ResourceObject.body(stored, context: context))
    }

    private func list(kind: ResourceKind, namespace: String?, table: Bool) async throws -> Response {
        let items = try await timed("list") { try await store.list(kind: kind, namespace: namespace) }
        let context = try await timed("status") { await flushStatus(); return try await StatusContext.load(from: store, validation: validation) }
        if table {
            return jsonResponse(bytes: ResourceTable.body(kind: kind, items: items, context: context, now: Date()))
        }
        return jsonResponse(bytes: ResourceObject.listBody(kind: kind, items: items, context: context))
    }

    private func deleteOne(_ key: ResourceKey) async throws -> Response {
        let result = try await timed("delete") { try await store.delete([key]) }
        guard result.outcomes.first?.deleted == true else {
            throw APIError.notFound(key)
        }
        metrics.revision.record(result.revision)
        onChange(result.revision)
        events.deleted(key)
        logger.info("deleted", metadata: ["resource": "\(key)", "store.revision": "\(result.revision)"])
        return try jsonResponse(
            APIStatus(
                status: "Success", message: "\(key.kind.singular) \(key.namespace)/\(key.name) deleted", reason: "Deleted", code: 200,
                details: .init(kind: key.kind.rawValue, namespace: key.namespace, name: key.name)
            )
        )
    }

    private func deleteBatch(_ request: Request) async throws -> Response {
        let keys = try deletionKeys(try await body(request))
        let result = try await timed("delete") { try await store.delete(keys) }
        metrics.revision.record(result.revision)
        if result.outcomes.contains(where: \.deleted) { onChange(result.revision) }
        for outcome in result.outcomes where outcome.deleted { events.deleted(outcome.key) }
        logger.info("deleted", metadata: ["delete.resources": "\(keys.count)", "store.revision": "\(result.revision)"])
        let entries = result.outcomes.map {
            ResultEntry(
                apiVersion: $0.key.kind.apiVersion, kind: $0.key.kind.rawValue, namespace: $0.key.namespace, name: $0.key.name,
                action: $0.deleted ? "deleted" : "notFound"
            )
        }
        return try jsonResponse(BatchResult(kind: "DeleteResult", revision: result.revision, results: entries))
    }

    /// The keys a delete manifest names. Only `apiVersion`, `kind` and `metadata.{name,namespace}`
    /// are read, so that a manifest that no longer validates can still be deleted.
    private func deletionKeys(_ text: String) throws -> [ResourceKey] {
        let documents: [ManifestDocument]
        do {
            documents = try ManifestParser.parse(text)
        } catch {
            throw APIError.manifest(error)
        }
        var keys: [ResourceKey] = []
        var violations: [Violation] = []
        for document in documents {
            let label = "document \(document.index + 1) (line \(document.line))"
            guard case .object(let object) = document.value,
                case .string(let apiVersion)? = object["apiVersion"],
                case .string(let kindName)? = object["kind"]
            else {
                violations.append(Violation(resource: label, field: "", rule: "required", message: "apiVersion and kind are required"))
                continue
            }
            guard let kind = ResourceKind.forManifest(apiVersion: apiVersion, kind: kindName) else {
                violations.append(
                    Violation(resource: label, field: "kind", rule: "unknownKind", message: "unknown kind \(kindName) in \(apiVersion); known: \(ResourceKind.knownKindsDescription)")
                )
                continue
            }
            guard case .object(let metadata)? = object["metadata"], case .string(let name)? = metadata["name"],
                case .string(let namespace)? = metadata["namespace"]
            else {
                violations.append(Violation(resource: label, field: "metadata", rule: "required", message: "metadata.name and metadata.namespace are required"))
                continue
            }
            keys.append(ResourceKey(kind: kind, namespace: namespace, name: name))
        }
        guard violations.isEmpty else { throw APIError.manifest(.invalid(violations)) }
        guard !keys.isEmpty else { throw APIError.manifest(.empty) }
        return keys
    }

    private func status() async throws -> Response {
        let resources = try await timed("list") { try await store.list(kind: nil, namespace: nil) }
        let context = try await timed("status") { await flushStatus(); return try await StatusContext.load(from: store, validation: validation) }
        let compacted = try await timed("status") { try await store.compactedRevision() }
        let now = Date()
        return try jsonResponse(
            context.report(
                resources: resources, compactedRevision: compacted, now: now, certificates: live.certificates(now: now),
                agentCertificates: live.agentCertificates()
            )
        )
    }

    private func describe(_ key: ResourceKey) async throws -> Response {
        let found = try await timed("get") { try await store.get(key) }
        guard let stored = found else { throw APIError.notFound(key) }
        let resources = try await timed("list") { try await store.list(kind: nil, namespace: nil) }
        let context = try await timed("status") { await flushStatus(); return try await StatusContext.load(from: store, validation: validation) }
        return try jsonResponse(DescribeReport.make(stored: stored, resources: resources, context: context, events: events.events(for: key)))
    }

    /// `meshrelay_cluster_lag_revisions{cluster}`, computed at scrape time from the store.
    /// Reads only the revision, the registered clusters and their records: not the per-resource
    /// status rows (clusters × resources) that the status report needs.
    private func refreshLagGauges() async {
        guard let revision = try? await store.revision(),
            let registered = try? await store.list(kind: .kubernetesCluster, namespace: nil),
            let records = try? await store.clusterStatuses()
        else { return }
        let applied = Dictionary(records.map { ($0.cluster, $0.appliedRevision) }, uniquingKeysWith: max)
        for cluster in Set(registered.map(\.key.name)).union(applied.keys) {
            metrics.clusterLag(cluster: cluster, revisions: max(0, revision - (applied[cluster] ?? 0)))
        }
    }
}

/// Checks the bearer token on mutating requests, counts and logs every request.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: AdminToken
    let metrics: ServerMetrics
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let method = request.method
        let mutating = method == .post || method == .put || method == .delete || method == .patch
        let start = ContinuousClock.now
        var code = 500
        defer {
            metrics.requestCompleted(method: method.rawValue, code: code)
            let elapsed = ContinuousClock.now - start
            let level: Logger.Level = mutating ? .info : .debug
            logger.log(
                level: level, "request",
                metadata: ["http.method": "\(method.rawValue)", "http.path": "\(request.uri.path)", "http.status": "\(code)", "http.duration": "\(elapsed)"]
            )
        }
        if mutating {
            guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
                token.matches(String(header.dropFirst("Bearer ".count)))
            else {
                code = 401
                return try APIError.unauthorized().response(from: request, context: context)
            }
        }
        do {
            let response = try await next(request, context)
            code = Int(response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            code = Int(error.status.code)
            throw error
        }
    }
}
