import Foundation

/// Reads `-f FILE|DIR|-` into one multi-document stream and remembers which lines came from which
/// file, so that a server error at "line 412" reads as "services/b.yaml:12".
struct ManifestSources {
    struct Part {
        var name: String
        var firstLine: Int
        var lineCount: Int
    }

    private(set) var text = ""
    private(set) var parts: [Part] = []

    /// - Parameter paths: Files, directories (their `.yaml`, `.yml`, `.json` files, sorted, not
    ///   recursive), or `-` for standard input.
    init(paths: [String]) throws(CLIError) {
        for path in paths {
            if path == "-" {
                let data = FileHandle.standardInput.readDataToEndOfFile()
                append(name: "<stdin>", String(decoding: data, as: UTF8.self))
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw .usage("\(path): no such file or directory")
            }
            let files: [String]
            if isDirectory.boolValue {
                let entries: [String]
                do {
                    entries = try FileManager.default.contentsOfDirectory(atPath: path)
                } catch {
                    throw .usage("cannot list \(path): \(error.localizedDescription)")
                }
                files = entries.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }.sorted()
                    .map { URL(fileURLWithPath: path).appendingPathComponent($0).path }
                if files.isEmpty {
                    throw .usage("\(path) holds no .yaml, .yml or .json file")
                }
            } else {
                files = [path]
            }
            for file in files {
                let data: Data
                do {
                    data = try Data(contentsOf: URL(fileURLWithPath: file))
                } catch {
                    throw .usage("cannot read \(file): \(error.localizedDescription)")
                }
                guard let content = String(data: data, encoding: .utf8) else {
                    throw .usage("\(file) is not UTF-8 text")
                }
                append(name: file, content)
            }
        }
    }

    private var linesSoFar = 0

    private mutating func append(name: String, _ content: String) {
        var body = content
        if body.hasSuffix("\n") { body.removeLast() }
        let bodyLines = body.utf8.reduce(into: 1) { count, byte in if byte == UInt8(ascii: "\n") { count += 1 } }
        let firstLine: Int
        if parts.isEmpty {
            firstLine = 1
            text = body
            linesSoFar = bodyLines
        } else {
            // A "---" line separates files.
            firstLine = linesSoFar + 2
            text += "\n---\n" + body
            linesSoFar += 1 + bodyLines
        }
        parts.append(Part(name: name, firstLine: firstLine, lineCount: bodyLines))
    }

    /// `file:line:column` for a line of the combined stream.
    func describe(line: Int, column: Int?) -> String {
        let columnText = column.map { ":\($0)" } ?? ""
        // The last part that starts at or before the line (an error at the end of a file is
        // reported on the line after its last one).
        guard let part = parts.last(where: { $0.firstLine <= line }) else {
            return "line \(line)\(columnText)"
        }
        return "\(part.name):\(line - part.firstLine + 1)\(columnText)"
    }
}
