/// One broken rule in one resource: which resource, which field, what rule, in words that say
/// what to do.
public struct Violation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The resource, e.g. `ExternalService global/google`, or `document 3` when the document is
    /// too broken to name.
    public var resource: String
    /// The field path, e.g. `spec.ports[0].number`; `""` for the whole document.
    public var field: String
    /// A stable machine-readable rule name, e.g. `hostsXorAddresses`, `portRange`.
    public var rule: String
    /// What is wrong and what is expected.
    public var message: String

    public init(resource: String, field: String, rule: String, message: String) {
        self.resource = resource
        self.field = field
        self.rule = rule
        self.message = message
    }

    /// `ExternalService global/google: spec.hosts: hosts and addresses are exclusive …`.
    public var description: String {
        field.isEmpty ? "\(resource): \(message)" : "\(resource): \(field): \(message)"
    }
}
