/// `--dry-run` output: the effective settings as a `--config` file (empty values left out), so
/// that it can be read back.
enum DryRun {
    static func report(verb: String, settings: [(String, String)]) -> String {
        var lines = ["# meshrelay \(verb): settings valid; effective values (a --config file; unset options omitted)"]
        for (key, value) in settings.sorted(by: { $0.0 < $1.0 }) where !value.isEmpty {
            lines.append("\(key): \(quoted(value))")
        }
        return lines.joined(separator: "\n")
    }

    /// Quoted when YAML would read the text as something else (a number, a boolean, a colon pair).
    private static func quoted(_ value: String) -> String {
        let plain = value.allSatisfy { $0.isLetter || $0.isNumber || "-_./".contains($0) }
        let special = ["true", "false", "null", "yes", "no", "on", "off", "~"].contains(value.lowercased())
        if plain && !special && Double(value) == nil && Int(value) == nil { return value }
        if value == "true" || value == "false" || Double(value) != nil { return value }
        return "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
