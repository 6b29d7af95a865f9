/// Collects the violations of one document while ``ResourceDecoder`` walks it, and reads typed
/// fields out of ``JSONValue`` mappings. Every reader reports what is wrong and returns `nil`; the
/// walk continues, so one pass finds every problem.
struct DecodingContext {
    /// How violations name the resource.
    let subject: String
    private(set) var violations: [Violation] = []
    /// `false` once a problem makes the typed value differ from what was written (anything but an
    /// unknown field, which is dropped).
    private(set) var isBuildable = true

    init(subject: String) {
        self.subject = subject
    }

    mutating func report(_ field: String, _ rule: ViolationRule, _ message: String) {
        violations.append(Violation(resource: subject, field: field, rule: rule, message: message))
        if rule != .unknownField {
            isBuildable = false
        }
    }

    // MARK: Paths

    static func path(_ base: String, _ key: String) -> String {
        base.isEmpty ? key : "\(base).\(key)"
    }

    static func path(_ base: String, index: Int) -> String {
        "\(base)[\(index)]"
    }

    /// A map entry: `metadata.labels[app.kubernetes.io/name]`.
    static func path(_ base: String, entry: String) -> String {
        "\(base)[\(entry)]"
    }

    // MARK: Readers

    /// `value` as a mapping whose keys are all in `known` (or silently `ignored`).
    mutating func mapping(
        _ value: JSONValue, at path: String, known: [String], ignored: Set<String> = []
    ) -> [String: JSONValue]? {
        guard case .object(let object) = value else {
            report(path, .wrongType, "expected a mapping, got \(value.typeDescription)")
            return nil
        }
        for key in object.keys.sorted() where !known.contains(key) && !ignored.contains(key) {
            report(Self.path(path, key), .unknownField, Self.unknownFieldMessage(key, known: known))
        }
        return object
    }

    /// A field's value, with JSON `null` read as absent; reports `required` when absent and
    /// `required` is set.
    mutating func field(
        _ object: [String: JSONValue], _ key: String, at path: String, required: Bool, requiredMessage: String
    ) -> JSONValue? {
        guard let value = object[key], value != .null else {
            if required {
                report(Self.path(path, key), .required, requiredMessage)
            }
            return nil
        }
        return value
    }

    mutating func string(
        _ object: [String: JSONValue], _ key: String, at path: String, required: Bool = false,
        requiredMessage: String = "required"
    ) -> String? {
        guard let value = field(object, key, at: path, required: required, requiredMessage: requiredMessage) else {
            return nil
        }
        return string(value, at: Self.path(path, key))
    }

    mutating func string(_ value: JSONValue, at path: String) -> String? {
        switch value {
        case .string(let text):
            return text
        case .bool, .int, .double:
            report(path, .wrongType, "expected a string, got \(value.typeDescription); quote the value")
            return nil
        case .null, .array, .object:
            report(path, .wrongType, "expected a string, got \(value.typeDescription)")
            return nil
        }
    }

    mutating func integer(
        _ object: [String: JSONValue], _ key: String, at path: String, required: Bool = false
    ) -> Int? {
        guard let value = field(object, key, at: path, required: required, requiredMessage: "required") else {
            return nil
        }
        guard case .int(let number) = value, let result = Int(exactly: number) else {
            report(Self.path(path, key), .wrongType, "expected an integer, got \(value.typeDescription)")
            return nil
        }
        return result
    }

    mutating func bool(_ object: [String: JSONValue], _ key: String, at path: String) -> Bool? {
        guard let value = field(object, key, at: path, required: false, requiredMessage: "required") else {
            return nil
        }
        guard case .bool(let flag) = value else {
            report(Self.path(path, key), .wrongType, "expected a boolean (true or false), got \(value.typeDescription)")
            return nil
        }
        return flag
    }

    /// A list field, each element read by `element` (which reports its own problems).
    mutating func list<Element>(
        _ object: [String: JSONValue], _ key: String, at path: String, required: Bool = false,
        element: (inout DecodingContext, JSONValue, String) -> Element?
    ) -> [Element]? {
        guard let value = field(object, key, at: path, required: required, requiredMessage: "required") else {
            return nil
        }
        let listPath = Self.path(path, key)
        guard case .array(let items) = value else {
            report(listPath, .wrongType, "expected a list, got \(value.typeDescription)")
            return nil
        }
        var result: [Element] = []
        var complete = true
        for (index, item) in items.enumerated() {
            if let decoded = element(&self, item, Self.path(listPath, index: index)) {
                result.append(decoded)
            } else {
                complete = false
            }
        }
        return complete ? result : nil
    }

    mutating func stringList(_ object: [String: JSONValue], _ key: String, at path: String) -> [String]? {
        list(object, key, at: path) { context, item, itemPath in
            context.string(item, at: itemPath)
        }
    }

    /// A mapping of strings to strings (labels, annotations, selectors).
    mutating func stringMap(_ object: [String: JSONValue], _ key: String, at path: String) -> [String: String]? {
        guard let value = field(object, key, at: path, required: false, requiredMessage: "required") else {
            return nil
        }
        let mapPath = Self.path(path, key)
        guard case .object(let entries) = value else {
            report(mapPath, .wrongType, "expected a mapping of strings, got \(value.typeDescription)")
            return nil
        }
        var result: [String: String] = [:]
        var complete = true
        for entryKey in entries.keys.sorted() {
            guard let entryValue = entries[entryKey] else { continue }
            if let text = string(entryValue, at: Self.path(mapPath, entry: entryKey)) {
                result[entryKey] = text
            } else {
                complete = false
            }
        }
        return complete ? result : nil
    }

    // MARK: Messages

    static func unknownFieldMessage(_ key: String, known: [String]) -> String {
        let list = known.joined(separator: ", ")
        if let suggestion = closest(to: key, in: known) {
            return "unknown field; known fields: \(list) (did you mean \(suggestion)?)"
        }
        return "unknown field; known fields: \(list)"
    }

    /// The known name within two edits of `key` (ignoring case), if exactly one is closest.
    static func closest(to key: String, in known: [String]) -> String? {
        let lowered = Array(key.lowercased())
        var best: (name: String, distance: Int)?
        var tie = false
        for name in known {
            let distance = editDistance(lowered, Array(name.lowercased()))
            guard distance <= 2, distance < max(lowered.count, 1) else { continue }
            if let current = best {
                if distance < current.distance {
                    best = (name, distance)
                    tie = false
                } else if distance == current.distance {
                    tie = true
                }
            } else {
                best = (name, distance)
            }
        }
        return tie ? nil : best?.name
    }

    private static func editDistance(_ lhs: [Character], _ rhs: [Character]) -> Int {
        if lhs.isEmpty { return rhs.count }
        if rhs.isEmpty { return lhs.count }
        var previous = Array(0...rhs.count)
        for (i, left) in lhs.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: rhs.count)
            for (j, right) in rhs.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (left == right ? 0 : 1))
            }
            previous = current
        }
        return previous[rhs.count]
    }
}
