import Foundation
import MeshRelayModel

/// What the manifest fuzzer exercises: arbitrary bytes as manifest text through the YAML parser
/// (Yams/libyaml with our anchor scanner, depth limit and core-schema typing), every document
/// through the resource decoder and the validator, and every decoded resource through a round
/// trip: the YAML we write for it (`meshrelay get -o yaml`) must parse and decode to the same
/// resource (decode, not validate: a resource the validator refuses still round-trips).
/// An error is fine; a crash, a hang or a changed resource is a finding.
enum ManifestFuzzTarget {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let documents: [ManifestDocument]
        do {
            documents = try ManifestParser.parse(text)
        } catch {
            _ = error.description
            return
        }
        for document in documents.prefix(100) {
            switch ResourceDecoder.decode(document) {
            case .invalid(let violations):
                precondition(!violations.isEmpty, "an invalid document must name at least one violation")
            case .decoded(let resource):
                _ = Validator.validate(resource)
                let yaml = ResourceYAML.string(for: resource)
                let again: [Resource]
                do {
                    again = try ManifestParser.parse(yaml).map { ResourceDecoder.decode($0).resource }.compactMap { $0 }
                } catch {
                    preconditionFailure("the YAML written for \(resource.key) does not parse: \(error)\n\(yaml)")
                }
                guard again == [resource] else {
                    preconditionFailure("round trip changed \(resource) into \(again)\n\(yaml)")
                }
            }
        }
    }
}

extension ManifestFuzzTarget {
    /// A starting corpus: the guide's manifests and the other kinds, so that libFuzzer begins from
    /// documents that decode instead of finding `apiVersion` byte by byte.
    static var seeds: [String] {
        let endpoint = GuideManifests.endpoint("google-1", namespace: "global", label: "google", port: 8080)
        return [
            GuideManifests.google,
            GuideManifests.googleWildcard,
            GuideManifests.pinned(GuideManifests.googleWildcard, to: "google"),
            GuideManifests.cluster("cluster-1"),
            endpoint,
            GuideManifests.stream([GuideManifests.cluster("cluster-2"), endpoint, GuideManifests.google]),
            #"{"apiVersion":"networking.gloo.solo.io/v2","kind":"ExternalService","metadata":{"name":"a","namespace":"b"},"spec":{"hosts":["a.example.com"],"ports":[{"name":"http","number":80,"protocol":"HTTP"}]}}"#,
        ]
    }

    static func writeSeeds(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, seed) in seeds.enumerated() {
            try Data(seed.utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent("seed-\(index).yaml"))
        }
    }
}
