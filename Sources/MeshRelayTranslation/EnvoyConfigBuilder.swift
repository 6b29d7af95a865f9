import MeshRelayModel

/// Well-known names in the generated Envoy config.
public enum EnvoyNames {
    /// The route configuration of the HTTP proxy listener (in `rds.json`).
    public static let routeConfiguration = "egress_http"
    /// The HTTP proxy listener.
    public static let httpListener = "egress_http"
    /// The SNI passthrough listener.
    public static let tlsListener = "egress_tls"
    /// The original-destination listener.
    public static let transparentListener = "egress_transparent"
    /// A cluster without endpoints: connections to it are reset.
    public static let blackHoleCluster = "BlackHoleCluster"
    /// Forwards to the connection's original destination (ALLOW_ANY on the transparent listener).
    public static let passthroughCluster = "PassthroughCluster"
    /// Forwards to the requested name (ALLOW_ANY for HTTP, CONNECT and SNI).
    public static let dynamicForwardProxyCluster = "DynamicForwardProxyCluster"
    /// The DNS cache shared by every dynamic forward proxy filter and cluster.
    public static let dnsCache = "egress_dns_cache"
}

/// Builds `cds.json`, `rds.json` and `lds.json` from a plan.
struct EnvoyConfigBuilder {
    let plan: TranslationPlan
    let input: TranslationInput

    static let clusterType = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
    static let listenerType = "type.googleapis.com/envoy.config.listener.v3.Listener"
    static let routeConfigurationType = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"

    func build() -> EnvoyFiles {
        EnvoyFiles(
            clusters: document(clusters()).jsonBytes(),
            routes: document([routeConfiguration()]).jsonBytes(),
            listeners: document(listeners()).jsonBytes())
    }

    private func document(_ resources: [ConfigValue]) -> ConfigValue {
        .object([("version_info", .string(input.versionInfo)), ("resources", .array(resources))])
    }

    private var connectTimeout: ConfigValue { Self.duration(milliseconds: input.gateway.connectTimeoutMilliseconds) }

    static func duration(milliseconds: Int) -> ConfigValue {
        let seconds = milliseconds / 1000
        let rest = milliseconds % 1000
        if rest == 0 { return .string("\(seconds)s") }
        let fraction = String(rest + 1000).dropFirst()  // three digits
        return .string("\(seconds).\(fraction)s")
    }

    // MARK: Clusters

    func clusters() -> [ConfigValue] {
        var result: [ConfigValue] = [
            .object([
                ("@type", .string(Self.clusterType)),
                ("name", .string(EnvoyNames.blackHoleCluster)),
                ("type", .string("STATIC")),
                ("connect_timeout", connectTimeout),
            ]),
            dynamicForwardProxyCluster(name: EnvoyNames.dynamicForwardProxyCluster),
            .object([
                ("@type", .string(Self.clusterType)),
                ("name", .string(EnvoyNames.passthroughCluster)),
                ("type", .string("ORIGINAL_DST")),
                ("lb_policy", .string("CLUSTER_PROVIDED")),
                ("connect_timeout", connectTimeout),
            ]),
        ]
        for route in plan.routes {
            result.append(cluster(for: route))
        }
        return result
    }

    static var dnsCacheConfig: ConfigValue {
        .object([("name", .string(EnvoyNames.dnsCache)), ("dns_lookup_family", .string("V4_PREFERRED"))])
    }

    private func dynamicForwardProxyCluster(name: String, extra: [(String, ConfigValue)] = []) -> ConfigValue {
        .object(
            [
                ("@type", .string(Self.clusterType)),
                ("name", .string(name)),
                ("connect_timeout", connectTimeout),
                ("lb_policy", .string("CLUSTER_PROVIDED")),
                (
                    "cluster_type",
                    .object([
                        ("name", .string("envoy.clusters.dynamic_forward_proxy")),
                        (
                            "typed_config",
                            .object([
                                (
                                    "@type",
                                    .string("type.googleapis.com/envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig")
                                ),
                                ("dns_cache_config", Self.dnsCacheConfig),
                            ])
                        ),
                    ])
                ),
            ] + extra)
    }

    private func cluster(for route: Route) -> ConfigValue {
        var extra: [(String, ConfigValue)] = []
        if route.isHTTP2, route.carriage == .http {
            extra.append(
                (
                    "typed_extension_protocol_options",
                    .object([
                        (
                            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                            .object([
                                ("@type", .string("type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions")),
                                ("explicit_http_config", .object([("http2_protocol_options", .object([]))])),
                            ])
                        )
                    ])
                ))
        }
        if let tls = route.origination {
            extra.append(("transport_socket", transportSocket(tls, route: route)))
        }
        let name = route.clusterName
        switch route.upstream {
        case .dynamicForwardProxy:
            return dynamicForwardProxyCluster(name: name, extra: extra)
        case .originalDestination:
            return .object(
                [
                    ("@type", .string(Self.clusterType)),
                    ("name", .string(name)),
                    ("type", .string("ORIGINAL_DST")),
                    ("lb_policy", .string("CLUSTER_PROVIDED")),
                    ("connect_timeout", connectTimeout),
                ] + extra)
        case .staticEndpoints(let endpoints):
            return .object(
                [
                    ("@type", .string(Self.clusterType)),
                    ("name", .string(name)),
                    ("type", .string("STATIC")),
                    ("connect_timeout", connectTimeout),
                    ("load_assignment", loadAssignment(name, endpoints)),
                ] + extra)
        case .dnsEndpoints(let endpoints):
            return .object(
                [
                    ("@type", .string(Self.clusterType)),
                    ("name", .string(name)),
                    ("type", .string("STRICT_DNS")),
                    ("connect_timeout", connectTimeout),
                    ("dns_lookup_family", .string("V4_PREFERRED")),
                    ("load_assignment", loadAssignment(name, endpoints)),
                ] + extra)
        }
    }

    private func loadAssignment(_ name: String, _ endpoints: [UpstreamEndpoint]) -> ConfigValue {
        // One locality group per distinct locality, in sorted order (endpoints are sorted with
        // their locality first).
        var groups: [(Locality?, [ConfigValue])] = []
        for endpoint in endpoints {
            let address: ConfigValue
            switch endpoint.address {
            case .ip(let host), .dns(let host):
                address = .object([
                    ("socket_address", .object([("address", .string(host)), ("port_value", .int(endpoint.port))]))
                ])
            case .unix(let path):
                address = .object([("pipe", .object([("path", .string(path))]))])
            }
            let lbEndpoint = ConfigValue.object([("endpoint", .object([("address", address)]))])
            if let last = groups.last, last.0 == endpoint.locality {
                groups[groups.count - 1].1.append(lbEndpoint)
            } else {
                groups.append((endpoint.locality, [lbEndpoint]))
            }
        }
        let localityEndpoints: [ConfigValue] = groups.map { locality, lbEndpoints in
            var pairs: [(String, ConfigValue)] = []
            if let locality {
                var fields: [(String, ConfigValue)] = []
                if let region = locality.region { fields.append(("region", .string(region))) }
                if let zone = locality.zone { fields.append(("zone", .string(zone))) }
                if let subZone = locality.subZone { fields.append(("sub_zone", .string(subZone))) }
                pairs.append(("locality", .object(fields)))
            }
            pairs.append(("lb_endpoints", .array(lbEndpoints)))
            return .object(pairs)
        }
        return .object([("cluster_name", .string(name)), ("endpoints", .array(localityEndpoints))])
    }

    private func transportSocket(_ tls: ClientsideTLS, route: Route) -> ConfigValue {
        var common: [(String, ConfigValue)] = []
        if tls.mode == .mutual, let certificate = tls.clientCertificate, let key = tls.privateKey {
            common.append(
                (
                    "tls_certificates",
                    .array([
                        .object([
                            ("certificate_chain", .object([("filename", .string(certificate))])),
                            ("private_key", .object([("filename", .string(key))])),
                        ])
                    ])
                ))
        }
        if tls.insecureSkipVerify != true {
            var validation: [(String, ConfigValue)] = [
                ("trusted_ca", .object([("filename", .string(tls.caCertificates ?? input.gateway.systemCABundle))]))
            ]
            if !route.subjectAltNames.isEmpty {
                validation.append(
                    (
                        "match_typed_subject_alt_names",
                        .array(
                            route.subjectAltNames.map { san in
                                .object([("san_type", .string("DNS")), ("matcher", .object([("exact", .string(san))]))])
                            })
                    ))
            }
            common.append(("validation_context", .object(validation)))
        }
        var context: [(String, ConfigValue)] = [
            ("@type", .string("type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"))
        ]
        let sni: String? =
            switch route.destination {
            case .host(let host) where !host.hasPrefix("*."): tls.sni ?? host
            default: tls.sni
            }
        if let sni { context.append(("sni", .string(sni))) }
        context.append(("common_tls_context", .object(common)))
        return .object([("name", .string("envoy.transport_sockets.tls")), ("typed_config", .object(context))])
    }

    // MARK: Routes

    /// The domains a claim answers to in the proxy's `Host`/`:authority`: `host:port`, plus the
    /// bare host for port 80 (what HTTP clients send for the default port).
    static func domains(_ route: Route) -> [String] {
        let host: String
        switch route.destination {
        case .host(let name): host = name
        case .address(let range):
            guard range.isSingleAddress else { return [] }
            host = range.address.family == .v6 ? "[\(range.address)]" : range.address.description
        }
        var result = ["\(host):\(route.port.number)"]
        if route.port.number == 80, route.carriage == .http { result.append(host) }
        return result
    }

    func routeConfiguration() -> ConfigValue {
        var virtualHosts: [ConfigValue] = []
        for route in plan.routes {
            let domains = Self.domains(route)
            guard !domains.isEmpty else { continue }
            var routes: [ConfigValue] = []
            if route.origination == nil {
                routes.append(Self.connectRoute(cluster: route.clusterName))
            }
            if route.carriage == .http {
                routes.append(
                    .object([
                        ("match", .object([("prefix", .string("/"))])),
                        ("route", .object([("cluster", .string(route.clusterName))])),
                    ]))
            }
            virtualHosts.append(
                .object([
                    ("name", .string(route.clusterName)),
                    ("domains", .array(domains.map { .string($0) })),
                    ("routes", .array(routes)),
                ]))
        }
        let defaultRoutes: [ConfigValue]
        switch input.policy {
        case .registryOnly:
            defaultRoutes = [
                .object([("match", .object([("connect_matcher", .object([]))])), ("direct_response", .object([("status", .int(502))]))]),
                .object([("match", .object([("prefix", .string("/"))])), ("direct_response", .object([("status", .int(502))]))]),
            ]
        case .allowAny:
            defaultRoutes = [
                Self.connectRoute(cluster: EnvoyNames.dynamicForwardProxyCluster),
                .object([
                    ("match", .object([("prefix", .string("/"))])),
                    ("route", .object([("cluster", .string(EnvoyNames.dynamicForwardProxyCluster))])),
                ]),
            ]
        }
        virtualHosts.append(
            .object([
                ("name", .string(input.policy == .registryOnly ? "block_all" : "allow_any")),
                ("domains", .array([.string("*")])),
                ("routes", .array(defaultRoutes)),
            ]))
        return .object([
            ("@type", .string(Self.routeConfigurationType)),
            ("name", .string(EnvoyNames.routeConfiguration)),
            ("virtual_hosts", .array(virtualHosts)),
        ])
    }

    static func connectRoute(cluster: String) -> ConfigValue {
        .object([
            ("match", .object([("connect_matcher", .object([]))])),
            (
                "route",
                .object([
                    ("cluster", .string(cluster)),
                    ("timeout", .string("0s")),
                    ("upgrade_configs", .array([.object([("upgrade_type", .string("CONNECT")), ("connect_config", .object([]))])])),
                ])
            ),
        ])
    }

    // MARK: Listeners

    func listeners() -> [ConfigValue] {
        var result = [httpListener()]
        if let address = input.gateway.tlsListener {
            result.append(tlsListener(address))
        }
        if let address = input.gateway.transparentListener {
            result.append(transparentListener(address))
        }
        return result
    }

    static func socketAddress(_ address: SocketAddress) -> ConfigValue {
        .object([
            ("socket_address", .object([("address", .string(address.host)), ("port_value", .int(address.port))]))
        ])
    }

    private func httpListener() -> ConfigValue {
        let manager: ConfigValue = .object([
            (
                "@type",
                .string("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager")
            ),
            ("stat_prefix", .string(EnvoyNames.httpListener)),
            (
                "rds",
                .object([
                    ("route_config_name", .string(EnvoyNames.routeConfiguration)),
                    (
                        "config_source",
                        .object([
                            ("resource_api_version", .string("V3")),
                            ("path_config_source", .object([("path", .string(input.gateway.path(EnvoyFiles.routesFileName)))])),
                        ])
                    ),
                ])
            ),
            ("upgrade_configs", .array([.object([("upgrade_type", .string("CONNECT"))])])),
            (
                "http_filters",
                .array([
                    .object([
                        ("name", .string("envoy.filters.http.dynamic_forward_proxy")),
                        (
                            "typed_config",
                            .object([
                                (
                                    "@type",
                                    .string("type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig")
                                ),
                                ("dns_cache_config", Self.dnsCacheConfig),
                            ])
                        ),
                    ]),
                    .object([
                        ("name", .string("envoy.filters.http.router")),
                        ("typed_config", .object([("@type", .string("type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"))])),
                    ]),
                ])
            ),
        ])
        return .object([
            ("@type", .string(Self.listenerType)),
            ("name", .string(EnvoyNames.httpListener)),
            ("address", Self.socketAddress(input.gateway.httpListener)),
            (
                "filter_chains",
                .array([
                    .object([
                        (
                            "filters",
                            .array([
                                .object([("name", .string("envoy.filters.network.http_connection_manager")), ("typed_config", manager)])
                            ])
                        )
                    ])
                ])
            ),
        ])
    }

    /// The filters of a TCP passthrough to `route`'s cluster (or the default for the policy).
    private func passthroughFilters(cluster: String, statPrefix: String, dynamicPort: Int?) -> ConfigValue {
        var filters: [ConfigValue] = []
        if let dynamicPort {
            filters.append(
                .object([
                    ("name", .string("envoy.filters.network.sni_dynamic_forward_proxy")),
                    (
                        "typed_config",
                        .object([
                            (
                                "@type",
                                .string("type.googleapis.com/envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig")
                            ),
                            ("dns_cache_config", Self.dnsCacheConfig),
                            ("port_value", .int(dynamicPort)),
                        ])
                    ),
                ]))
        }
        filters.append(
            .object([
                ("name", .string("envoy.filters.network.tcp_proxy")),
                (
                    "typed_config",
                    .object([
                        ("@type", .string("type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy")),
                        ("stat_prefix", .string(statPrefix)),
                        ("cluster", .string(cluster)),
                    ])
                ),
            ]))
        return .array(filters)
    }

    private func defaultChain(sniDefaultPort: Int?, statPrefix: String) -> ConfigValue {
        switch input.policy {
        case .registryOnly:
            return .object([
                ("name", .string("block_all")),
                ("filters", passthroughFilters(cluster: EnvoyNames.blackHoleCluster, statPrefix: statPrefix + "_blackhole", dynamicPort: nil)),
            ])
        case .allowAny:
            if let sniDefaultPort {
                return .object([
                    ("name", .string("allow_any")),
                    (
                        "filters",
                        passthroughFilters(
                            cluster: EnvoyNames.dynamicForwardProxyCluster, statPrefix: statPrefix + "_allow_any", dynamicPort: sniDefaultPort)
                    ),
                ])
            }
            return .object([
                ("name", .string("allow_any")),
                ("filters", passthroughFilters(cluster: EnvoyNames.passthroughCluster, statPrefix: statPrefix + "_allow_any", dynamicPort: nil)),
            ])
        }
    }

    private static var tlsInspector: ConfigValue {
        .object([
            ("name", .string("envoy.filters.listener.tls_inspector")),
            (
                "typed_config",
                .object([("@type", .string("type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"))])
            ),
        ])
    }

    private func sniChain(_ route: Route, destinationPort: Int?) -> ConfigValue {
        var match: [(String, ConfigValue)] = []
        if let destinationPort { match.append(("destination_port", .int(destinationPort))) }
        match.append(("server_names", .array([.string(route.destination.text)])))
        let dynamicPort = route.upstream == .dynamicForwardProxy ? route.port.number : nil
        return .object([
            ("name", .string(route.clusterName)),
            ("filter_chain_match", .object(match)),
            ("filters", passthroughFilters(cluster: route.clusterName, statPrefix: route.clusterName, dynamicPort: dynamicPort)),
        ])
    }

    /// SNI passthrough for TLS sent straight to the gateway. The destination port is unknown
    /// here, so one server name maps to one claim: the lowest port number of that host.
    private func tlsListener(_ address: SocketAddress) -> ConfigValue {
        var chains: [ConfigValue] = []
        var seen = Set<String>()
        let sniRoutes = plan.routes.filter(\.isSNIRoutable).sorted {
            ($0.destination.text, $0.port.number) < ($1.destination.text, $1.port.number)
        }
        for route in sniRoutes where seen.insert(route.destination.text).inserted {
            chains.append(sniChain(route, destinationPort: nil))
        }
        return .object([
            ("@type", .string(Self.listenerType)),
            ("name", .string(EnvoyNames.tlsListener)),
            ("address", Self.socketAddress(address)),
            ("listener_filters", .array([Self.tlsInspector])),
            ("filter_chains", .array(chains)),
            ("default_filter_chain", defaultChain(sniDefaultPort: 443, statPrefix: EnvoyNames.tlsListener)),
        ])
    }

    /// Connections redirected to the gateway with their original destination: TLS by SNI and
    /// destination port, addresses by destination IP range and port.
    private func transparentListener(_ address: SocketAddress) -> ConfigValue {
        var chains: [ConfigValue] = []
        for route in plan.routes {
            if route.isSNIRoutable {
                chains.append(sniChain(route, destinationPort: route.port.number))
            } else if case .address(let range) = route.destination {
                chains.append(
                    .object([
                        ("name", .string(route.clusterName)),
                        (
                            "filter_chain_match",
                            .object([
                                ("destination_port", .int(route.port.number)),
                                (
                                    "prefix_ranges",
                                    .array([
                                        .object([
                                            ("address_prefix", .string(range.address.description)),
                                            ("prefix_len", .int(range.prefixLength)),
                                        ])
                                    ])
                                ),
                            ])
                        ),
                        ("filters", passthroughFilters(cluster: route.clusterName, statPrefix: route.clusterName, dynamicPort: nil)),
                    ]))
            }
        }
        return .object([
            ("@type", .string(Self.listenerType)),
            ("name", .string(EnvoyNames.transparentListener)),
            ("address", Self.socketAddress(address)),
            (
                "listener_filters",
                .array([
                    .object([
                        ("name", .string("envoy.filters.listener.original_dst")),
                        (
                            "typed_config",
                            .object([
                                ("@type", .string("type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"))
                            ])
                        ),
                    ]),
                    Self.tlsInspector,
                ])
            ),
            ("filter_chains", .array(chains)),
            ("default_filter_chain", defaultChain(sniDefaultPort: nil, statPrefix: EnvoyNames.transparentListener)),
        ])
    }
}
