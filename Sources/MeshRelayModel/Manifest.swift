/// Loads a whole manifest: parse, decode and validate every document, all or nothing.
public enum Manifest {
    /// Parses, decodes and validates every document of a manifest.
    ///
    /// A document may also be a Kubernetes `List` (`apiVersion: v1`, `kind: List`, `items: […]`),
    /// as `kubectl get -o yaml` prints several objects; its items are loaded in order.
    /// - Parameter text: YAML or JSON, possibly several documents separated by `---`.
    /// - Returns: The resources in manifest order.
    /// - Throws: ``ManifestError/syntax(line:column:message:)`` when the text does not parse,
    ///   ``ManifestError/empty`` when it holds no resource, and ``ManifestError/invalid(_:)`` with
    ///   every violation of every document (structural, semantic, and the same resource appearing
    ///   twice) when any document is wrong: then nothing is returned.
    public static func load(_ text: String) throws(ManifestError) -> [Resource] {
        try load(documents: ManifestParser.parse(text))
    }

    /// Decodes and validates parsed documents, all or nothing, as ``load(_:)`` does.
    /// - Parameter documents: Documents from ``ManifestParser/parse(_:)``.
    /// - Returns: The resources in document order.
    /// - Throws: ``ManifestError/empty`` or ``ManifestError/invalid(_:)``.
    public static func load(documents: [ManifestDocument]) throws(ManifestError) -> [Resource] {
        var resources: [Resource] = []
        var violations: [Violation] = []
        var firstSeen: [ResourceKey: String] = [:]
        for document in documents {
            for (value, fallbackSubject) in objects(in: document, violations: &violations) {
                let partial = ResourceDecoder.decodePartially(value, fallbackSubject: fallbackSubject)
                violations += partial.violations
                guard let resource = partial.resource ?? partial.draft else { continue }
                // Semantic rules run on the draft too, so one answer lists every problem; a rule
                // about a field that already failed to decode would only repeat it.
                let failedFields = partial.violations.filter { $0.rule != ViolationRule.unknownField.rawValue && !$0.field.isEmpty }.map(\.field)
                let problems = Validator.validate(resource).filter { violation in
                    !failedFields.contains { failed in
                        violation.field == failed || violation.field.hasPrefix(failed + ".") || violation.field.hasPrefix(failed + "[")
                    }
                }
                violations += problems
                if let first = firstSeen[resource.key] {
                    violations.append(
                        Violation(
                            resource: resource.key.description, field: "", rule: .duplicateResource,
                            message: "appears twice in this manifest (first in \(first), again in \(fallbackSubject)); keep one"
                        )
                    )
                } else {
                    firstSeen[resource.key] = fallbackSubject
                }
                if partial.resource != nil, partial.violations.isEmpty, problems.isEmpty {
                    resources.append(resource)
                }
            }
        }
        if !violations.isEmpty {
            throw .invalid(violations)
        }
        if resources.isEmpty {
            throw .empty
        }
        return resources
    }

    /// The objects of one document with the name violations use when the object cannot name
    /// itself: the document, or each item of a `v1` `List`.
    private static func objects(
        in document: ManifestDocument, violations: inout [Violation]
    ) -> [(JSONValue, String)] {
        guard case .object(let object) = document.value, object["apiVersion"] == .string("v1"),
            object["kind"] == .string("List")
        else {
            return [(document.value, document.label)]
        }
        for key in object.keys.sorted() where !["apiVersion", "kind", "items", "metadata"].contains(key) {
            violations.append(
                Violation(
                    resource: document.label, field: key, rule: .unknownField,
                    message: "unknown field; known fields: apiVersion, kind, items, metadata"
                )
            )
        }
        switch object["items"] ?? .null {
        case .null:
            return []
        case .array(let items):
            return items.enumerated().map { index, item in (item, "\(document.label) items[\(index)]") }
        case let other:
            violations.append(
                Violation(
                    resource: document.label, field: "items", rule: .wrongType,
                    message: "expected a list, got \(other.typeDescription)"
                )
            )
            return []
        }
    }
}
