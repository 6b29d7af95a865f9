/// Why a manifest was refused. Nothing of a refused manifest is applied.
public enum ManifestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text is not well-formed YAML/JSON, or uses YAML features manifests may not use
    /// (anchors and aliases, non-string keys, duplicate keys, nesting deeper than
    /// ``ManifestParser/maximumDepth``). `line` and `column` count from 1.
    case syntax(line: Int, column: Int, message: String)
    /// The text parsed, but documents break rules: every violation of every document, in
    /// document order.
    case invalid([Violation])
    /// The text holds no document (only whitespace, comments or `---`).
    case empty

    /// One line per problem, e.g. `line 4, column 3: mapping values are not allowed in this
    /// context` or `ExternalService global/google: spec.ports[0].number: port 0 is out of range
    /// 1-65535`.
    public var description: String {
        switch self {
        case .syntax(let line, let column, let message):
            "line \(line), column \(column): \(message)"
        case .invalid(let violations):
            violations.map(\.description).joined(separator: "\n")
        case .empty:
            "the manifest contains no documents"
        }
    }

    /// The violations of an ``invalid(_:)`` error; empty for the other cases.
    public var violations: [Violation] {
        if case .invalid(let violations) = self { violations } else { [] }
    }
}
