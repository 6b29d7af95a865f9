import Foundation
import MeshRelayModel

/// `meshrelay server|agent --config FILE`: a YAML mapping of settings, each key a long option of
/// the verb without its dashes (`relay-listen: 0.0.0.0:9900`), turned into those options before
/// parsing, so a file is checked exactly as the command line is (docs/operations.md,
/// "Configuration file"). `true` is a flag, `false` or null leaves it out, a list is joined with
/// commas. An option given on the command line wins over the file's.
enum ConfigFile {
    /// The verbs that read `--config`.
    static let verbs: Set<String> = ["server", "agent"]

    /// `arguments` with `--config FILE` replaced by the file's settings (before the other
    /// arguments), and the file; unchanged and nil without `--config`.
    static func expand(_ arguments: [String]) throws(CLIError) -> (arguments: [String], file: String?) {
        guard let verb = arguments.first, verbs.contains(verb) else { return (arguments, nil) }
        var rest: [String] = []
        var path: String?
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--config" {
                guard index + 1 < arguments.count else { throw .usage("--config needs a FILE") }
                path = arguments[index + 1]
                index += 2
                continue
            }
            if argument.hasPrefix("--config=") {
                path = String(argument.dropFirst("--config=".count))
            } else {
                rest.append(argument)
            }
            index += 1
        }
        guard let path else { return (arguments, nil) }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .usage("meshrelay \(verb): cannot read --config \(path): \(error.localizedDescription)")
        }
        let given = Set(rest.compactMap { argument -> String? in
            guard argument.hasPrefix("--") else { return nil }
            return String(argument.dropFirst(2).prefix { $0 != "=" })
        })
        return ([verb] + (try settings(text, file: path).filter { !given.contains($0.key) }.flatMap(\.arguments)) + rest, path)
    }

    /// One setting of a file, as command-line arguments.
    struct Setting {
        var key: String
        var arguments: [String]
    }

    /// The settings of a configuration text, in the file's key order.
    static func settings(_ text: String, file: String) throws(CLIError) -> [Setting] {
        let documents: [ManifestDocument]
        do {
            documents = try ManifestParser.parse(text)
        } catch {
            throw .usage("--config \(file): \(error.description)")
        }
        guard documents.count <= 1 else { throw .usage("--config \(file): one YAML document expected, found \(documents.count)") }
        guard let document = documents.first else { return [] }
        guard case .object(let mapping) = document.value else {
            throw .usage("--config \(file): a mapping of settings expected (e.g. `relay-listen: 0.0.0.0:9900`)")
        }
        var settings: [Setting] = []
        for (key, value) in mapping.sorted(by: { $0.key < $1.key }) {
            guard !key.isEmpty, !key.hasPrefix("-"), key != "config" else {
                throw .usage("--config \(file): `\(key)` is not a setting name (write option names without dashes, e.g. data-dir)")
            }
            switch value {
            case .null, .bool(false):
                continue
            case .bool(true):
                settings.append(Setting(key: key, arguments: ["--\(key)"]))
            case .array(let items):
                let texts = try items.map { (item) throws(CLIError) -> String in try scalar(item, key: key, file: file) }
                settings.append(Setting(key: key, arguments: ["--\(key)", texts.joined(separator: ",")]))
            default:
                settings.append(Setting(key: key, arguments: ["--\(key)", try scalar(value, key: key, file: file)]))
            }
        }
        return settings
    }

    private static func scalar(_ value: JSONValue, key: String, file: String) throws(CLIError) -> String {
        switch value {
        case .string(let text): return text
        case .int(let number): return String(number)
        case .double(let number): return String(number)
        case .bool(let flag): return String(flag)
        case .null, .array, .object:
            throw .usage("--config \(file): `\(key)` must be a string, a number, true/false or a list of those")
        }
    }
}
