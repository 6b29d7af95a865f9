import Yams

/// Parses manifest text — multi-document YAML, or JSON, which is YAML — into ``ManifestDocument``s.
///
/// Scalars are typed by the YAML 1.2 core schema (`true`/`false`, `null`/`~`/empty, decimal,
/// `0o` and `0x` integers, floats); quoted and block scalars are always strings, and so are `yes`,
/// `on` and `off` (booleans only in YAML 1.1). The parser refuses what a manifest
/// never needs and an attacker could use: anchors and aliases (which also defeats "billion
/// laughs" expansion), mapping keys that are not strings, duplicate keys, and nesting deeper than
/// ``maximumDepth``.
public enum ManifestParser {
    /// The deepest nesting of mappings and lists a document may have. Resources need about 6.
    public static let maximumDepth = 64

    /// The message of the error that refuses YAML anchors and aliases.
    public static let anchorsNotSupported = "YAML anchors and aliases are not supported in manifests"

    /// Parses every non-empty document of a manifest.
    ///
    /// Empty documents (nothing but comments, a trailing `---`, or an explicit `null`) are
    /// skipped and do not count in ``ManifestDocument/index``.
    /// - Parameter text: YAML or JSON text, possibly several documents separated by `---`.
    /// - Returns: The documents in order; empty when the text holds none.
    /// - Throws: ``ManifestError/syntax(line:column:message:)`` for text that is not well-formed or
    ///   uses refused YAML features.
    public static func parse(_ text: String) throws(ManifestError) -> [ManifestDocument] {
        if let mark = AnchorScanner.firstAnchor(in: text) {
            // Checked before Yams sees the text: Yams hashes mapping keys in full to find duplicates,
            // so an aliased key could make it expand a bomb before any node reaches us.
            throw .syntax(line: mark.line, column: mark.column, message: anchorsNotSupported)
        }
        let parser: Parser
        do {
            parser = try Parser(yaml: text, resolver: implicitMarker, encoding: .utf8)
        } catch {
            throw syntaxError(from: error, in: text)
        }
        var documents: [ManifestDocument] = []
        // A `while` loop, not `for … in compose_all`: a YamlSequence swallows the parse error.
        while true {
            let root: Node?
            do {
                root = try parser.nextRoot()
            } catch {
                throw syntaxError(from: error, in: text)
            }
            guard let root else { break }
            let value = try withExtendedLifetime(parser) { () throws(ManifestError) -> JSONValue in
                try convert(root, depth: 0)
            }
            if value == .null { continue }
            documents.append(ManifestDocument(index: documents.count, line: root.mark?.line ?? 1, value: value))
        }
        return documents
    }

    // MARK: - Node → JSONValue

    private static func convert(_ node: Node, depth: Int) throws(ManifestError) -> JSONValue {
        let mark = Position(node.mark)
        if node.anchor != nil {
            throw .syntax(line: mark.line, column: mark.column, message: anchorsNotSupported)
        }
        switch node {
        case .alias:
            throw .syntax(line: mark.line, column: mark.column, message: anchorsNotSupported)
        case .scalar(let scalar):
            return try convert(scalar, tag: tag(of: scalar), mark: mark)
        case .sequence(let sequence):
            try checkDepth(depth + 1, mark: mark)
            var items: [JSONValue] = []
            items.reserveCapacity(sequence.count)
            for item in sequence {
                items.append(try convert(item, depth: depth + 1))
            }
            return .array(items)
        case .mapping(let mapping):
            try checkDepth(depth + 1, mark: mark)
            var object: [String: JSONValue] = [:]
            for (keyNode, valueNode) in mapping {
                let key = try mappingKey(keyNode)
                if object[key] != nil {
                    let keyMark = keyNode.mark.map { Position($0) } ?? mark
                    throw .syntax(
                        line: keyMark.line, column: keyMark.column,
                        message: "key \"\(key)\" appears more than once in this mapping"
                    )
                }
                object[key] = try convert(valueNode, depth: depth + 1)
            }
            return .object(object)
        }
    }

    private static func checkDepth(_ depth: Int, mark: Position) throws(ManifestError) {
        if depth > maximumDepth {
            throw .syntax(
                line: mark.line, column: mark.column,
                message: "nesting deeper than \(maximumDepth) levels is not supported"
            )
        }
    }

    private static func mappingKey(_ node: Node) throws(ManifestError) -> String {
        let mark = Position(node.mark)
        if node.anchor != nil {
            throw .syntax(line: mark.line, column: mark.column, message: anchorsNotSupported)
        }
        switch node {
        case .alias:
            throw .syntax(line: mark.line, column: mark.column, message: anchorsNotSupported)
        case .sequence, .mapping:
            throw .syntax(
                line: mark.line, column: mark.column,
                message: "mapping keys must be strings, not lists or mappings"
            )
        case .scalar(let scalar):
            guard tag(of: scalar) == Tag.Name.str.rawValue else {
                let shown = scalar.string.isEmpty ? "an empty key" : "\"\(scalar.string)\""
                throw .syntax(
                    line: mark.line, column: mark.column,
                    message: "mapping keys must be strings; quote \(shown)"
                )
            }
            return scalar.string
        }
    }

    private static func convert(_ scalar: Node.Scalar, tag: String, mark: Position) throws(ManifestError) -> JSONValue {
        let text = scalar.string
        switch tag {
        case Tag.Name.null.rawValue:
            return .null
        case Tag.Name.bool.rawValue:
            switch text {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default:
                throw .syntax(line: mark.line, column: mark.column, message: "cannot read \"\(text)\" as a boolean")
            }
        case Tag.Name.int.rawValue:
            guard let value = integer(text) else {
                throw .syntax(
                    line: mark.line, column: mark.column,
                    message: "cannot read \"\(text)\" as a 64-bit integer"
                )
            }
            return .int(value)
        case Tag.Name.float.rawValue:
            guard let value = Double(text) else {
                throw .syntax(
                    line: mark.line, column: mark.column,
                    message: "cannot read \"\(text)\" as a finite number (.inf and .nan are not supported)"
                )
            }
            guard value.isFinite else {
                throw .syntax(
                    line: mark.line, column: mark.column,
                    message: "\"\(text)\" is not a finite number (.inf and .nan are not supported)"
                )
            }
            return .double(value)
        default:
            return .string(text)
        }
    }

    /// Decimal, `0o` octal and `0x` hexadecimal integers with an optional sign (YAML 1.2 core).
    private static func integer(_ text: String) -> Int64? {
        var digits = Substring(text)
        var negative = false
        if let first = digits.first, first == "+" || first == "-" {
            negative = first == "-"
            digits = digits.dropFirst()
        }
        var radix = 10
        if digits.hasPrefix("0x") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.hasPrefix("0o") {
            radix = 8
            digits = digits.dropFirst(2)
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isHexDigit }) else { return nil }
        // Parse with the sign attached so that Int64.min is representable.
        return Int64((negative ? "-" : "") + digits, radix: radix)
    }

    /// A 1-based line and column.
    private struct Position {
        var line: Int
        var column: Int

        init(_ mark: Mark?) {
            line = mark?.line ?? 1
            column = mark?.column ?? 1
        }
    }

    // MARK: - Tags

    /// The scalar's tag: explicit (`!!int "80"`), `str` for quoted and block scalars and for the
    /// non-specific `!`, or, for a plain scalar, the YAML 1.2 core schema's resolution.
    private static func tag(of scalar: Node.Scalar) -> String {
        switch scalar.tag.rawValue {
        case Tag.Name.implicit.rawValue, implicitTag.rawValue: CoreSchema.tag(ofPlain: scalar.string)
        case Tag.Name.nonSpecific.rawValue: Tag.Name.str.rawValue
        case let explicit: explicit
        }
    }

    /// What `implicitMarker` resolves every untagged plain scalar to.
    private static let implicitTag = Tag.Name(rawValue: "tag:meshrelay,2026:implicit")

    /// A resolver that only marks untagged plain scalars as such. Yams resolves a tag in place
    /// (`Tag` is a class) when it hashes mapping keys to find duplicates; with its default resolver
    /// a key's original "untagged" state would be lost, and its regular expressions are slow.
    /// Plain scalars are typed by `CoreSchema` instead.
    private static let implicitMarker: Resolver = {
        do {
            return try Resolver.basic.appending(implicitTag, "^")
        } catch {
            // The pattern is a constant; unreachable.
            return .basic
        }
    }()

    // MARK: - Errors

    private static func syntaxError(from error: any Error, in text: String) -> ManifestError {
        guard let yamlError = error as? YamlError else {
            return .syntax(line: 1, column: 1, message: String(describing: error))
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return .syntax(line: mark.line, column: mark.column, message: message(problem: problem, context: context))
        case .reader(let problem, let offset, _, _):
            let (line, column) = position(ofCharacterOffset: offset ?? 0, in: text)
            return .syntax(line: line, column: column, message: problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams points at the first occurrence.
            let keys = duplicates.map { "\"\($0)\"" }.joined(separator: ", ")
            let verb = duplicates.count == 1 ? "appears" : "appear"
            return .syntax(
                line: context.mark.line, column: context.mark.column,
                message: "key \(keys) \(verb) more than once in this mapping"
            )
        case .dataCouldNotBeDecoded:
            return .syntax(line: 1, column: 1, message: "the manifest is not valid UTF-8")
        case .no, .memory, .writer, .emitter, .representer:
            return .syntax(line: 1, column: 1, message: "cannot read the manifest: \(yamlError)")
        }
    }

    private static func message(problem: String, context: YamlError.Context?) -> String {
        if problem.hasPrefix("Maximum nesting level") {
            return "nesting deeper than \(maximumDepth) levels is not supported"
        }
        let mentionsAlias = problem.contains("alias") || (context?.text.contains("alias") ?? false)
        if mentionsAlias || (context?.text.contains("anchor") ?? false) {
            return anchorsNotSupported + "; quote values that start with '*' or '&' (for example \"*.google.com\")"
        }
        guard let context else { return problem }
        return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
    }

    private static func position(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }
}
