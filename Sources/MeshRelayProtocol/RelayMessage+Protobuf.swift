import Foundation

// Conversions between the public message structs (RelayMessage.swift) and the generated protobuf
// types (Generated/relay.pb.swift). Decoding applies the field rules of docs/protocol.md,
// "Messages"; every violation is a `malformedPayload` error naming the field.

// MARK: - Encoding (struct → protobuf)

extension Meshrelay_Relay_V1_ResourceKey {
    init(_ key: RelayResourceKey) {
        self.init()
        self.kind = key.kind
        self.namespace = key.namespace
        self.name = key.name
    }
}

extension Meshrelay_Relay_V1_Hello {
    init(_ hello: Hello) {
        self.init()
        self.protocolVersions = hello.protocolVersions
        self.cluster = hello.cluster
        self.agentVersion = hello.agentVersion
        self.appliedRevision = hello.appliedRevision
        self.held = hello.held.map { held in
            var proto = Meshrelay_Relay_V1_HeldResource()
            proto.key = Meshrelay_Relay_V1_ResourceKey(held.key)
            proto.version = held.version
            proto.warning = held.warning
            return proto
        }
        self.outboundPolicy = hello.outboundPolicy
        if let health = hello.dataPlane { self.dataPlane = Meshrelay_Relay_V1_DataPlaneHealth(health) }
    }
}

extension Meshrelay_Relay_V1_DataPlaneHealth {
    init(_ health: DataPlaneHealth) {
        self.init()
        self.state = health.state
        self.message = health.message
    }
}

extension Meshrelay_Relay_V1_Welcome {
    init(_ welcome: Welcome) {
        self.init()
        self.protocolVersion = welcome.protocolVersion
        self.serverVersion = welcome.serverVersion
        self.serverID = welcome.serverID
        self.cluster = welcome.cluster
        self.heartbeatIntervalMs = welcome.heartbeatIntervalMilliseconds
        self.revision = welcome.revision
    }
}

extension Meshrelay_Relay_V1_Refuse {
    init(_ refuse: Refuse) {
        self.init()
        self.code = refuse.code.rawValue
        self.message = refuse.message
        self.retryAfterMs = refuse.retryAfterMilliseconds
    }
}

extension Meshrelay_Relay_V1_Resource {
    init(_ resource: RelayResource) {
        self.init()
        self.key = Meshrelay_Relay_V1_ResourceKey(resource.key)
        self.version = resource.version
        self.generation = resource.generation
        self.labels = resource.labels
        self.specJson = Data(resource.specJSON)
        self.creationTimestamp = resource.creationTimestamp
    }
}

extension Meshrelay_Relay_V1_Update {
    init(_ update: Update) {
        self.init()
        self.revision = update.revision
        self.isSnapshot = update.isSnapshot
        self.upserts = update.upserts.map(Meshrelay_Relay_V1_Resource.init)
        self.removals = update.removals.map(Meshrelay_Relay_V1_ResourceKey.init)
    }
}

extension Meshrelay_Relay_V1_Ack {
    init(_ ack: Ack) {
        self.init()
        self.revision = ack.revision
        self.results = ack.results.map { result in
            var proto = Meshrelay_Relay_V1_ResourceResult()
            proto.key = Meshrelay_Relay_V1_ResourceKey(result.key)
            proto.version = result.version
            proto.state = Meshrelay_Relay_V1_ResultState(result.state)
            proto.message = result.message
            return proto
        }
    }
}

extension Meshrelay_Relay_V1_ResultState {
    init(_ state: ResourceResult.State) {
        switch state {
        case .applied: self = .applied
        case .failed: self = .failed
        case .warning: self = .warning
        }
    }
}

extension Meshrelay_Relay_V1_Heartbeat {
    init(_ heartbeat: Heartbeat) {
        self.init()
        self.sequence = heartbeat.sequence
        if let health = heartbeat.dataPlane { self.dataPlane = Meshrelay_Relay_V1_DataPlaneHealth(health) }
    }
}

extension Meshrelay_Relay_V1_Drain {
    init(_ drain: Drain) {
        self.init()
        self.message = drain.message
        self.closeAfterMs = drain.closeAfterMilliseconds
    }
}

extension Meshrelay_Relay_V1_Goodbye {
    init(_ goodbye: Goodbye) {
        self.init()
        self.code = goodbye.code.rawValue
        self.message = goodbye.message
    }
}

// MARK: - Decoding (protobuf → struct, with the field rules)

/// Validates fields of one decoded payload; errors name the frame type and the field path.
private struct FieldRules {
    var type: FrameType

    func fail(_ field: String, _ problem: String) -> RelayProtocolError {
        .malformedPayload(self.type, "\(field): \(problem)")
    }

    func nonNegative(_ value: Int64, _ field: @autoclosure () -> String) throws(RelayProtocolError) -> Int64 {
        guard value >= 0 else {
            throw self.fail(field(), "is negative (\(value))")
        }
        return value
    }

    func nonZero<T: BinaryInteger>(_ value: T, _ field: @autoclosure () -> String) throws(RelayProtocolError) -> T {
        guard value != 0 else {
            throw self.fail(field(), "is missing or 0")
        }
        return value
    }

    func key(
        _ key: Meshrelay_Relay_V1_ResourceKey,
        present: Bool,
        _ field: @autoclosure () -> String
    ) throws(RelayProtocolError) -> RelayResourceKey {
        guard present else {
            throw self.fail(field(), "is missing")
        }
        guard !key.kind.isEmpty else {
            throw self.fail(field() + ".kind", "is empty")
        }
        guard !key.name.isEmpty else {
            throw self.fail(field() + ".name", "is empty")
        }
        return RelayResourceKey(kind: key.kind, namespace: key.namespace, name: key.name)
    }
}

extension Hello {
    init(_ proto: Meshrelay_Relay_V1_Hello) throws(RelayProtocolError) {
        let rules = FieldRules(type: .hello)
        guard !proto.protocolVersions.isEmpty else {
            throw rules.fail("protocol_versions", "is empty")
        }
        var held: [HeldResource] = []
        held.reserveCapacity(proto.held.count)
        for (index, item) in proto.held.enumerated() {
            held.append(
                HeldResource(
                    key: try rules.key(item.key, present: item.hasKey, "held[\(index)].key"),
                    version: try rules.nonNegative(item.version, "held[\(index)].version"),
                    warning: item.warning
                )
            )
        }
        self.init(
            protocolVersions: proto.protocolVersions,
            cluster: proto.cluster,
            agentVersion: proto.agentVersion,
            appliedRevision: try rules.nonNegative(proto.appliedRevision, "applied_revision"),
            held: held,
            outboundPolicy: proto.outboundPolicy,
            dataPlane: proto.hasDataPlane ? DataPlaneHealth(proto.dataPlane) : nil
        )
    }
}

extension Welcome {
    init(_ proto: Meshrelay_Relay_V1_Welcome) throws(RelayProtocolError) {
        let rules = FieldRules(type: .welcome)
        self.init(
            protocolVersion: try rules.nonZero(proto.protocolVersion, "protocol_version"),
            serverVersion: proto.serverVersion,
            serverID: proto.serverID,
            cluster: proto.cluster,
            heartbeatIntervalMilliseconds: try rules.nonZero(proto.heartbeatIntervalMs, "heartbeat_interval_ms"),
            revision: try rules.nonNegative(proto.revision, "revision")
        )
    }
}

extension Refuse {
    init(_ proto: Meshrelay_Relay_V1_Refuse) throws(RelayProtocolError) {
        let rules = FieldRules(type: .refuse)
        self.init(
            code: RelayErrorCode(rawValue: try rules.nonZero(proto.code, "code")),
            message: proto.message,
            retryAfterMilliseconds: proto.retryAfterMs
        )
    }
}

extension Update {
    init(_ proto: Meshrelay_Relay_V1_Update) throws(RelayProtocolError) {
        let rules = FieldRules(type: .update)
        var upserts: [RelayResource] = []
        upserts.reserveCapacity(proto.upserts.count)
        for (index, item) in proto.upserts.enumerated() {
            upserts.append(
                RelayResource(
                    key: try rules.key(item.key, present: item.hasKey, "upserts[\(index)].key"),
                    version: try rules.nonNegative(item.version, "upserts[\(index)].version"),
                    generation: try rules.nonNegative(item.generation, "upserts[\(index)].generation"),
                    labels: item.labels,
                    specJSON: [UInt8](item.specJson),
                    creationTimestamp: item.creationTimestamp
                )
            )
        }
        var removals: [RelayResourceKey] = []
        removals.reserveCapacity(proto.removals.count)
        for (index, item) in proto.removals.enumerated() {
            removals.append(try rules.key(item, present: true, "removals[\(index)]"))
        }
        self.init(
            revision: try rules.nonNegative(proto.revision, "revision"),
            isSnapshot: proto.isSnapshot,
            upserts: upserts,
            removals: removals
        )
    }
}

extension Ack {
    init(_ proto: Meshrelay_Relay_V1_Ack) throws(RelayProtocolError) {
        let rules = FieldRules(type: .ack)
        var results: [ResourceResult] = []
        results.reserveCapacity(proto.results.count)
        for (index, item) in proto.results.enumerated() {
            let state: ResourceResult.State
            switch item.state {
            case .applied: state = .applied
            case .failed: state = .failed
            case .warning: state = .warning
            case .unspecified: throw rules.fail("results[\(index)].state", "is missing or 0")
            case .UNRECOGNIZED(let value): throw rules.fail("results[\(index)].state", "is unknown (\(value))")
            }
            results.append(
                ResourceResult(
                    key: try rules.key(item.key, present: item.hasKey, "results[\(index)].key"),
                    version: try rules.nonNegative(item.version, "results[\(index)].version"),
                    state: state,
                    message: item.message
                )
            )
        }
        self.init(revision: try rules.nonNegative(proto.revision, "revision"), results: results)
    }
}

extension DataPlaneHealth {
    init(_ proto: Meshrelay_Relay_V1_DataPlaneHealth) {
        self.init(state: proto.state, message: proto.message)
    }
}

extension Heartbeat {
    init(_ proto: Meshrelay_Relay_V1_Heartbeat) {
        self.init(
            sequence: proto.sequence,
            dataPlane: proto.hasDataPlane ? DataPlaneHealth(proto.dataPlane) : nil
        )
    }
}

extension Drain {
    init(_ proto: Meshrelay_Relay_V1_Drain) {
        self.init(message: proto.message, closeAfterMilliseconds: proto.closeAfterMs)
    }
}

extension Goodbye {
    init(_ proto: Meshrelay_Relay_V1_Goodbye) throws(RelayProtocolError) {
        let rules = FieldRules(type: .goodbye)
        self.init(code: RelayErrorCode(rawValue: try rules.nonZero(proto.code, "code")), message: proto.message)
    }
}
