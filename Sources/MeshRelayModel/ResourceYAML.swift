import Yams

/// Writes resources as Kubernetes-style YAML, as `kubectl get -o yaml` does: one document per
/// resource (`apiVersion`, `kind`, `metadata`, `spec`), keys sorted, absent fields left out,
/// documents separated by `---`. ``Manifest/load(_:)`` reads the output back to equal resources.
///
/// A string that a YAML 1.1 or 1.2 reader would take for something else (`"yes"`, `"80"`,
/// `"null"`, `""`, `"+.5"`), mapping keys included, is quoted. Values of opaque fields
/// (`egressGatewayRoutes`) go through JSON, so a whole-valued number such as `1.0` reads back as
/// the integer `1`.
public enum ResourceYAML {
    /// The YAML of `objects`, one document each.
    /// - Parameter objects: The resources, in the order to write them.
    /// - Returns: Multi-document YAML ending with a newline; `""` for no resources.
    public static func string(for objects: [Resource]) -> String {
        objects.map(string(for:)).joined(separator: "---\n")
    }

    /// The YAML of one resource.
    /// - Parameter object: The resource.
    /// - Returns: One YAML document ending with a newline.
    public static func string(for object: Resource) -> String {
        // Resource → JSON → JSONValue (with the manifest parser's own typing) → YAML nodes: the
        // emitter then quotes every string and key that could read back as another type, which
        // YAMLEncoder does not do for keys.
        let json = ResourceJSON.string(for: object, pretty: false)
        do {
            guard let document = try ManifestParser.parse(json).first else { return json + "\n" }
            return try serialize(node: node(for: document.value), indent: 2, width: -1, allowUnicode: true)
        } catch {
            // Unreachable for JSON that JSONEncoder wrote; JSON is YAML, so it is still a manifest.
            return json + "\n"
        }
    }

    private static func node(for value: JSONValue) -> Node {
        switch value {
        case .null:
            return Node("null", Tag(.null))
        case .bool(let flag):
            return Node(flag ? "true" : "false", Tag(.bool))
        case .int(let number):
            return Node(String(number), Tag(.int))
        case .double(let number):
            return Node(number.description, Tag(.float))
        case .string(let text):
            return .scalar(scalar(for: text))
        case .array(let items):
            return Node(items.map(node(for:)))
        case .object(let object):
            return Node(object.keys.sorted().map { key in (Node.scalar(scalar(for: key)), node(for: object[key] ?? .null)) })
        }
    }

    /// A string scalar: a literal block when it has line breaks, else single-quoted when a plain one would read back as another type under
    /// YAML 1.1 (what Yams and kubectl's parser use) or the 1.2 core schema (what ManifestParser
    /// uses).
    private static func scalar(for text: String) -> Node.Scalar {
        if text.contains("\n") {
            // `|` blocks, as kubectl prints certificates and JSON annotations; libyaml falls back to
            // a quoted style when a block cannot hold the text.
            return Node.Scalar(text, Tag(.str), .literal)
        }
        let represented = text.represented()
        if represented.style == .singleQuoted || CoreSchema.tag(ofPlain: text) == Tag.Name.str.rawValue {
            return represented
        }
        return Node.Scalar(text, Tag(.str), .singleQuoted)
    }
}
