import Foundation
import MeshRelayModel
import MeshRelayServer

/// A resource as the API returns it: the object plus its status.
struct APIObject: Decodable {
    struct Status: Decodable {
        struct Common: Decodable {
            struct State: Decodable {
                var approval: String
                var message: String?
                var observedGeneration: Int64?
            }
            var state: State
        }
        var common: Common
        var clusters: [StatusReport.ResourceCluster]?
    }

    var resource: Resource
    var status: Status?

    private enum CodingKeys: String, CodingKey { case status }

    init(from decoder: any Decoder) throws {
        resource = try Resource(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        status = try container.decodeIfPresent(Status.self, forKey: .status)
    }
}

/// `POST /api/v1/apply` and `/api/v1/delete` replies.
struct BatchReply: Decodable {
    struct Entry: Decodable {
        var apiVersion: String
        var kind: String
        var namespace: String
        var name: String
        var action: String
    }
    var revision: Int64
    var results: [Entry]
}

/// kubectl's `singular.group/name` form.
func qualifiedName(kind: ResourceKind, name: String) -> String {
    "\(kind.singular).\(kind.group)/\(name)"
}

func decode<T: Decodable>(_ type: T.Type, from reply: APIClient.Reply) throws(CLIError) -> T {
    do {
        return try JSONDecoder().decode(type, from: Data(reply.body))
    } catch {
        throw .refused("unexpected reply from the server (HTTP \(reply.status)): \(error)")
    }
}

/// kubectl-style age of an RFC 3339 timestamp.
func age(of timestamp: String?, now: Date = Date()) -> String {
    guard let timestamp, let date = try? Date(timestamp, strategy: Date.ISO8601FormatStyle()) else { return "<unknown>" }
    return KubectlAge.string(from: date, to: now)
}

/// Left-aligned columns separated by three spaces, like kubectl.
func renderTable(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    func line(_ cells: [String]) -> String {
        var out = ""
        for (index, cell) in cells.enumerated() {
            if index == cells.count - 1 {
                out += cell
            } else {
                out += cell.padding(toLength: widths[index] + 3, withPad: " ", startingAt: 0)
            }
        }
        return out
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}

/// The API path of a collection or an object.
func resourcePath(kind: ResourceKind, namespace: String?, name: String? = nil) -> String {
    var path = "/apis/\(kind.group)/\(kind.version)"
    if let namespace {
        path += "/namespaces/\(percentEncoded(namespace))"
    }
    path += "/\(kind.plural)"
    if let name {
        path += "/\(percentEncoded(name))"
    }
    return path
}

func percentEncoded(_ segment: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return segment.addingPercentEncoding(withAllowedCharacters: allowed) ?? segment
}
