import Foundation
public import Logging
import MeshRelayModel
public import MeshRelayProtocol
public import MeshRelayTranslation
public import NIOCore
import NIOPosix
import Synchronization

/// The Envoy egress gateway as the agent's data plane: translates the held resources
/// (``Translator``), replaces `cds.json`, `rds.json`, `lds.json` in the config directory by atomic
/// rename in that order, and after each file waits until Envoy's admin endpoint shows the file's
/// `version_info` (`…version_text` stats) or counts a rejection (`…update_rejected`). A rejection
/// is reported with Envoy's own message when the agent supervises Envoy (its log line), and the
/// agent then restores the previous configuration. With ``Configuration/envoyExecutable`` it also
/// runs Envoy, restarting it with backoff when it dies.
public final class EnvoyDataPlane: DataPlane {
    public struct Configuration: Sendable {
        /// Listeners and the absolute config directory (created when missing).
        public var gateway: GatewayConfiguration
        public var policy: OutboundPolicy
        /// Envoy's admin endpoint (written into the bootstrap; used to confirm versions).
        public var admin: MeshRelayTranslation.SocketAddress
        /// The workload cluster (Envoy's node cluster; node id `meshrelay-egress-CLUSTER`).
        public var cluster: String
        /// The Envoy binary to run and supervise; `nil` when Envoy is run by someone else (it must
        /// use the bootstrap `meshrelay envoy-bootstrap` prints).
        public var envoyExecutable: String?
        /// How long Envoy has to load one file.
        public var confirmTimeout: Duration

        public init(
            gateway: GatewayConfiguration, policy: OutboundPolicy, admin: MeshRelayTranslation.SocketAddress, cluster: String,
            envoyExecutable: String? = nil, confirmTimeout: Duration = .seconds(15)
        ) {
            self.gateway = gateway
            self.policy = policy
            self.admin = admin
            self.cluster = cluster
            self.envoyExecutable = envoyExecutable
            self.confirmTimeout = confirmTimeout
        }

        /// Envoy's bootstrap for this configuration.
        public var bootstrap: EnvoyBootstrap {
            EnvoyBootstrap(configDirectory: gateway.configDirectory, admin: admin, nodeID: "meshrelay-egress-\(cluster)", nodeCluster: cluster)
        }
    }

    public let configuration: Configuration
    private let logger: Logger
    private let admin: EnvoyAdmin
    private let supervisor: EnvoySupervisor?
    /// Distinguishes this process's writes: `REVISION-EPOCH-SEQUENCE` is never reused, so a
    /// version Envoy shows is the one just written.
    private let epoch = String(UInt32.random(in: .min ... .max), radix: 16)
    private let sequence = Mutex<Int>(0)
    /// Per file, what Envoy confirmed last, without its `version_info`: a file whose resources
    /// did not change is not rewritten (Envoy needs ~10–20 ms per file update even when nothing
    /// changed). Cleared for a file Envoy rejected or that a restore wrote.
    private let accepted = Mutex<[String: [UInt8]]>([:])
    /// One configuration change at a time.
    private let writing = AsyncSerializer()

    /// - Throws: ``AgentError`` `.configuration` when the bootstrap cannot be made (relative
    ///   directory, bad admin address) or the config directory cannot be created.
    public init(configuration: Configuration, logger: Logger, eventLoopGroup: (any EventLoopGroup)? = nil) throws(AgentError) {
        self.configuration = configuration
        self.logger = logger
        self.admin = EnvoyAdmin(address: configuration.admin, group: eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton)
        let bootstrap: [UInt8]
        do {
            bootstrap = try configuration.bootstrap.json()
        } catch {
            throw AgentError(.configuration, "the Envoy bootstrap cannot be made: \(error.message)")
        }
        let directory = configuration.gateway.configDirectory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try DurableFile.replace(directory + "/bootstrap.json", with: bootstrap, code: .configuration)
        } catch {
            throw AgentError(.configuration, "the Envoy config directory \(directory) cannot be written: \(error)")
        }
        self.supervisor = configuration.envoyExecutable.map {
            EnvoySupervisor(executable: $0, bootstrapPath: directory + "/bootstrap.json", logger: logger)
        }
    }

    // MARK: DataPlane

    /// Healthy when Envoy runs (if supervised) and its admin `/ready` answers `LIVE`.
    public func health() async -> DataPlaneHealth {
        let address = "\(configuration.admin.host):\(configuration.admin.port)"
        if let supervisor, !supervisor.isRunning {
            return .unhealthy("Envoy is not running (restarted \(supervisor.restartCount) times; see the agent log)")
        }
        do {
            let ready = try await admin.get("/ready", timeout: .seconds(5)).trimmingCharacters(in: .whitespacesAndNewlines)
            return ready == "LIVE" ? .healthy("Envoy LIVE (admin \(address))") : .unhealthy("Envoy is \(ready) (admin \(address))")
        } catch {
            return .unhealthy("Envoy's admin \(address) does not answer: \(error.message)")
        }
    }

    public func restore(_ resources: [RelayResource], revision: Int64) async {
        await writing.run {
            do {
                let output = try self.translate(resources, revision: revision)
                self.accepted.withLock { $0.removeAll() }
                for file in output.envoy.inWriteOrder {
                    try DurableFile.replace(self.configuration.gateway.configDirectory + "/" + file.name, with: file.contents, code: .dataPlane)
                }
                self.logger.info(
                    "Envoy configuration restored from the agent state",
                    metadata: ["relay.revision": "\(revision)", "envoy.version": "\(output.versionInfo)", "agent.held": "\(resources.count)"]
                )
            } catch {
                self.logger.error("cannot write the Envoy configuration from the agent state", metadata: ["agent.error": "\(error)"])
            }
        }
    }

    public func apply(_ resources: [RelayResource], revision: Int64) async -> DataPlaneOutcome {
        await writing.run {
            await self.applyNow(resources, revision: revision)
        }
    }

    public func run() async {
        await supervisor?.run()
    }

    public func stop() {
        supervisor?.stop()
    }

    // MARK: Applying

    private func translate(_ resources: [RelayResource], revision: Int64) throws -> TranslationOutput {
        let number = sequence.withLock { value -> Int in
            value += 1
            return value
        }
        var input = TranslationInput(
            resources: resources.map(RawSnapshotResource.init), policy: configuration.policy, gateway: configuration.gateway, versionInfo: "\(revision)-\(epoch)-\(number)"
        )
        input.outputs = .envoy
        return try Translator.translate(input)
    }

    private func applyNow(_ resources: [RelayResource], revision: Int64) async -> DataPlaneOutcome {
        let started = ContinuousClock.now
        let output: TranslationOutput
        do {
            output = try translate(resources, revision: revision)
        } catch {
            return .rejected("the configuration cannot be translated: \(error)")
        }
        let translated = ContinuousClock.now
        let directory = configuration.gateway.configDirectory
        var written: [String] = []
        for file in output.envoy.inWriteOrder {
            let body = Self.body(of: file.contents, version: output.versionInfo).map(Array.init)
            if let body, accepted.withLock({ $0[file.name] }) == body { continue }
            accepted.withLock { $0[file.name] = nil }
            written.append(file.name)
            let subscription = EnvoySubscription(fileName: file.name)
            let before: EnvoyStats
            do {
                // Envoy may still be starting (or restarting): wait for its admin endpoint.
                before = try await reachableStats()
            } catch {
                return .rejected(error.message)
            }
            let rejectionsBefore = supervisor?.rejectionCount ?? 0
            do {
                try DurableFile.replace(directory + "/" + file.name, with: file.contents, code: .dataPlane)
            } catch {
                return .rejected("\(file.name) cannot be written in \(directory): \(error)")
            }
            if let failure = await confirm(subscription, version: output.versionInfo, rejectedBefore: before.rejected(subscription), rejectionsBefore: rejectionsBefore) {
                return .rejected(failure)
            }
            if let body { accepted.withLock { $0[file.name] = body } }
        }
        let done = ContinuousClock.now
        logger.info(
            "Envoy accepted the configuration",
            metadata: [
                "relay.revision": "\(revision)", "envoy.version": "\(output.versionInfo)",
                "envoy.files": "\(written.isEmpty ? "none changed" : written.joined(separator: ","))",
                "agent.translate_ms": "\(Self.milliseconds(started.duration(to: translated)))",
                "agent.apply_ms": "\(Self.milliseconds(started.duration(to: done)))",
            ]
        )
        return .accepted(DataPlaneOutcomes.from(output))
    }

    /// The file after its `version_info` (the translator writes it first): what must be equal for
    /// the file to be unchanged. Nil when the version is not found (then the file is written).
    static func body(of contents: [UInt8], version: String) -> ArraySlice<UInt8>? {
        let needle = Array("\"\(version)\"".utf8)
        let window = contents.prefix(64 + needle.count)
        guard needle.count <= window.count else { return nil }
        for start in 0...(window.count - needle.count) where window[start..<(start + needle.count)].elementsEqual(needle) {
            return contents[(start + needle.count)...]
        }
        return nil
    }

    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.1f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }

    /// Waits until Envoy shows `version` for `subscription` (nil) or rejected it (its message).
    private func confirm(_ subscription: EnvoySubscription, version: String, rejectedBefore: Int, rejectionsBefore: Int) async -> String? {
        let deadline = ContinuousClock.now + configuration.confirmTimeout
        var lastError = ""
        while ContinuousClock.now < deadline {
            do {
                let now = try await stats()
                if now.versions(subscription).contains(version) && !now.versions(subscription).contains(where: { $0 != version }) {
                    return nil
                }
                if now.rejected(subscription) > rejectedBefore {
                    // Envoy logs the reason just before or after it counts it.
                    for _ in 0..<50 {
                        if let message = supervisor?.rejection(after: rejectionsBefore) { return "Envoy rejected \(subscription.fileName): \(message)" }
                        if supervisor == nil { break }
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    return "Envoy rejected \(subscription.fileName) (\(subscription.statPrefix)update_rejected rose); see Envoy's log"
                }
            } catch {
                lastError = error.message
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let reason = lastError.isEmpty ? "" : " (\(lastError))"
        return "Envoy did not load version \(version) of \(subscription.fileName) within \(configuration.confirmTimeout)\(reason)"
    }

    /// The version and rejection stats (filter `(version_text|update_rejected)$`, percent-encoded).
    private func stats() async throws(AgentError) -> EnvoyStats {
        EnvoyStats(text: try await admin.get("/stats?filter=%28version_text%7Cupdate_rejected%29%24"))
    }

    /// ``stats()``, retried until ``Configuration/confirmTimeout`` while Envoy cannot be reached.
    private func reachableStats() async throws(AgentError) -> EnvoyStats {
        let deadline = ContinuousClock.now + configuration.confirmTimeout
        while true {
            do {
                return try await stats()
            } catch {
                guard ContinuousClock.now < deadline else {
                    throw AgentError(.dataPlane, "Envoy cannot be reached within \(configuration.confirmTimeout): \(error.message)")
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
    }
}

/// One of Envoy's file subscriptions and the stats that report on it.
struct EnvoySubscription: Sendable {
    let fileName: String

    /// The stat name prefix (`cluster_manager.cds.`, `listener_manager.lds.`, `http.*.rds.*.`).
    var statPrefix: String {
        switch fileName {
        case EnvoyFiles.clustersFileName: "cluster_manager.cds."
        case EnvoyFiles.listenersFileName: "listener_manager.lds."
        default: "http.*.rds.*."
        }
    }

    func matches(_ name: Substring) -> Bool {
        switch fileName {
        case EnvoyFiles.clustersFileName: name.hasPrefix("cluster_manager.cds.")
        case EnvoyFiles.listenersFileName: name.hasPrefix("listener_manager.lds.")
        default: name.hasPrefix("http.") && name.contains(".rds.")
        }
    }
}

/// Envoy's `/stats` text (`name: value` lines), as far as versions and rejections go.
struct EnvoyStats: Sendable {
    let lines: [(name: Substring, value: Substring)]

    init(text: String) {
        lines = text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return (line[..<colon], Substring(value.trimmingCharacters(in: CharacterSet(charactersIn: "\""))))
        }
    }

    /// Every `version_text` of the subscription (one per RDS route configuration).
    func versions(_ subscription: EnvoySubscription) -> [String] {
        lines.filter { subscription.matches($0.name) && $0.name.hasSuffix(".version_text") }.map { String($0.value) }
    }

    /// The sum of the subscription's `update_rejected` counters.
    func rejected(_ subscription: EnvoySubscription) -> Int {
        lines.filter { subscription.matches($0.name) && $0.name.hasSuffix(".update_rejected") }.reduce(0) { $0 + (Int($1.value) ?? 0) }
    }
}

/// Runs async blocks one at a time, in call order.
final class AsyncSerializer: Sendable {
    private let tail = Mutex<Task<Void, Never>?>(nil)

    func run<T: Sendable>(_ body: @escaping @Sendable () async -> T) async -> T {
        let task = tail.withLock { tail -> Task<T, Never> in
            let previous = tail
            let task = Task<T, Never> {
                await previous?.value
                return await body()
            }
            tail = Task { _ = await task.value }
            return task
        }
        return await task.value
    }
}
