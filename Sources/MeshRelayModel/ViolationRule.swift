/// The stable rule identifiers that ``Violation/rule`` carries. Clients may match on them; the
/// raw values never change once released.
public enum ViolationRule: String, Sendable, Hashable, Codable, CaseIterable {
    // MARK: Structure (ResourceDecoder)

    /// A required field is missing or null, or a required list is empty.
    case required
    /// A field has the wrong JSON type (`expected an integer, got a string`).
    case wrongType
    /// A field that the kind does not define (strict decoding, as `kubectl --validate=strict`).
    case unknownField
    /// `apiVersion`/`kind` name no kind meshrelay serves, or a known kind under the wrong version.
    case unknownKind
    /// An ExternalService port protocol outside `HTTP|HTTPS|HTTP2|GRPC|TCP|TLS|MONGO`.
    case `protocol`
    /// A `clientsideTls.mode` outside `SIMPLE|DISABLE|MUTUAL|ISTIO_MUTUAL`.
    case tlsMode

    // MARK: Names and labels (Validator)

    /// A name that must be a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63).
    case dns1123Label
    /// A name that must be a DNS-1123 subdomain (dot-separated labels, at most 253).
    case dns1123Subdomain
    /// A label (or selector) key or value outside the Kubernetes rules.
    case labelFormat
    /// An annotation key outside the Kubernetes qualified-name rules.
    case annotationFormat

    // MARK: ExternalService and ExternalEndpoint (Validator)

    /// An ExternalService sets both `hosts` and `addresses`, or neither.
    case hostsXorAddresses
    /// A host that is not a lowercase DNS name with an optional leading `*.`.
    case hostFormat
    /// An address that is not an IPv4/IPv6 address or a CIDR range.
    case addressFormat
    /// The same value appears twice in a list that must be unique.
    case duplicate
    /// A port number outside 1–65535.
    case portRange
    /// Two ports of one resource share a number or a name.
    case portUnique
    /// An ExternalEndpoint port name is missing (several ports) or repeated.
    case portName
    /// A `targetPort` that sets neither or both of `number` and `name`.
    case targetPort
    /// An ExternalEndpoint address that is not an IP, a DNS name or `unix:///path`.
    case endpointAddress

    // MARK: Manifest (Manifest.load)

    /// The same kind, namespace and name appear twice in one manifest.
    case duplicateResource
}

extension Violation {
    /// Creates a violation with a rule from ``ViolationRule``.
    /// - Parameters:
    ///   - resource: The resource, e.g. `ExternalService global/google`, or `document 2 (line 9)`.
    ///   - field: The field path, e.g. `spec.ports[0].number`; `""` for the whole document.
    ///   - rule: The broken rule.
    ///   - message: What is wrong and what to do.
    public init(resource: String, field: String, rule: ViolationRule, message: String) {
        self.init(resource: resource, field: field, rule: rule.rawValue, message: message)
    }
}
