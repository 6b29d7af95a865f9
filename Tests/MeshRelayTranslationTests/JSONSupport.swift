import Foundation

enum JSONSupport {
    struct NotAnObject: Error {}

    static func object(_ bytes: [UInt8]) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { throw NotAnObject() }
        return object
    }
}
