/// One non-empty document of a (multi-document) YAML or JSON manifest, before it is decoded into a
/// typed ``Resource``.
public struct ManifestDocument: Sendable, Hashable {
    /// The position among the manifest's non-empty documents, from 0.
    public var index: Int
    /// The 1-based line where the document's content starts.
    public var line: Int
    /// The document's content.
    public var value: JSONValue

    /// Creates a document.
    /// - Parameters:
    ///   - index: The position among the manifest's non-empty documents, from 0.
    ///   - line: The 1-based line where the document's content starts.
    ///   - value: The document's content.
    public init(index: Int, line: Int, value: JSONValue) {
        self.index = index
        self.line = line
        self.value = value
    }

    /// How violations name a document whose kind, namespace and name are not all known:
    /// `document 2 (line 14)`, counting documents from 1.
    public var label: String {
        "document \(index + 1) (line \(line))"
    }
}
