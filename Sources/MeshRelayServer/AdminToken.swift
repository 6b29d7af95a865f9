import Foundation

/// The bearer token that authorises mutations of the API.
public struct AdminToken: Sendable {
    private let secret: [UInt8]

    /// Wraps a token string (surrounding whitespace and newlines are trimmed).
    public init(_ token: String) {
        secret = Array(token.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
    }

    /// Reads the token from `path`; when the file does not exist and `createIfMissing` is set,
    /// writes a new random 256-bit token there with mode 0600.
    /// - Throws: ``ServerError`` when the file cannot be read or written, or is empty.
    public static func load(path: String, createIfMissing: Bool) throws(ServerError) -> AdminToken {
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: path) {
            guard createIfMissing else {
                throw ServerError(.configuration, "token file \(path) does not exist; create it or omit --token-file to generate one in the data directory")
            }
            var generator = SystemRandomNumberGenerator()
            let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
            do {
                try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw ServerError(.configuration, "cannot create \(directory) for the admin token: \(error)")
            }
            guard fileManager.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ServerError(.configuration, "cannot write the admin token to \(path); check the directory's permissions")
            }
            return AdminToken(token)
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ServerError(.configuration, "cannot read the admin token from \(path): \(error)")
        }
        let token = AdminToken(text)
        guard !token.secret.isEmpty else {
            throw ServerError(.configuration, "the admin token file \(path) is empty; write a token into it or delete it to have one generated")
        }
        return token
    }

    /// Compares in constant time with respect to the content (length differences return early,
    /// which reveals only the length).
    public func matches(_ candidate: String) -> Bool {
        let bytes = Array(candidate.utf8)
        guard bytes.count == secret.count else { return false }
        var difference: UInt8 = 0
        for index in 0..<bytes.count {
            difference |= bytes[index] ^ secret[index]
        }
        return difference == 0
    }

    /// The token text, for clients that send it.
    public var stringValue: String { String(decoding: secret, as: UTF8.self) }
}
