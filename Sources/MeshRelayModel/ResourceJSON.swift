public import Foundation

/// Writes resources as Kubernetes-style JSON (`apiVersion`, `kind`, `metadata`, `spec`), with
/// sorted keys so that equal resources give equal bytes.
public enum ResourceJSON {
    /// JSON of one resource.
    /// - Parameters:
    ///   - object: The resource.
    ///   - pretty: Indented output (for people) rather than compact (for machines).
    /// - Returns: UTF-8 JSON.
    /// - Throws: `EncodingError` only if a non-finite number reached an opaque field.
    public static func data(for object: Resource, pretty: Bool = true) throws -> Data {
        try encoder(pretty: pretty).encode(object)
    }

    /// JSON of several resources as a Kubernetes `List` (`{"apiVersion": "v1", "kind": "List",
    /// "items": […]}`), as `kubectl get -o json` prints them; ``Manifest/load(_:)`` reads it back.
    /// - Parameters:
    ///   - objects: The resources, in order.
    ///   - pretty: Indented output rather than compact.
    /// - Returns: UTF-8 JSON.
    /// - Throws: `EncodingError` only if a non-finite number reached an opaque field.
    public static func listData(for objects: [Resource], pretty: Bool = true) throws -> Data {
        try encoder(pretty: pretty).encode(ResourceList(items: objects))
    }

    /// JSON of one resource as a string; `{}` in the (unreachable) case it cannot be encoded.
    /// - Parameters:
    ///   - object: The resource.
    ///   - pretty: Indented output rather than compact.
    /// - Returns: JSON without a trailing newline.
    public static func string(for object: Resource, pretty: Bool = true) -> String {
        guard let data = try? data(for: object, pretty: pretty) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    private static func encoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty
            ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    private struct ResourceList: Encodable {
        var apiVersion = "v1"
        var kind = "List"
        var items: [Resource]
    }
}
