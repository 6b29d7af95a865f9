import Testing

@testable import MeshRelayModel

@Suite struct ManifestTests {
    @Test func oneBadDocumentRefusesTheWholeManifest() throws {
        let bad = Fixtures.externalService(name: "bad", spec: "hosts: [\"*\"]\nports: [{number: 0, protocol: HTTP}]")
        let error = try #require(throws: ManifestError.self) {
            try Manifest.load([Fixtures.google, bad, Fixtures.googleWildcard].joined(separator: "\n---\n"))
        }
        #expect(
            error.violations.map(\.description) == [
                "ExternalService global/bad: spec.hosts[0]: \"*\" alone is not allowed; use a wildcard prefix such as \"*.example.com\"",
                "ExternalService global/bad: spec.ports[0].number: port 0 is out of range; use 1-65535",
            ]
        )
    }

    @Test func violationsOfEveryDocumentAreReportedInDocumentOrder() throws {
        let first = Fixtures.externalService(name: "first", spec: "hosts: [a.com]\naddresses: [10.0.0.1]\nports: [{number: 80, protocol: HTTP}]")
        let second = "kind: ExternalService\nmetadata: {name: x}\n"
        let third = Fixtures.externalService(name: "third", spec: "hosts: [A.com]\nports: [{number: 80, protocol: UDP}]")
        let violations = Fixtures.violations([first, second, third].joined(separator: "\n---\n"))
        #expect(
            violations.map { "\($0.resource) | \($0.field) | \($0.rule)" } == [
                "ExternalService global/first | spec | hostsXorAddresses",
                "document 2 (line 11) | apiVersion | required",
                "document 2 (line 11) | metadata.namespace | required",
                "ExternalService global/third | spec.ports[0].protocol | protocol",
                // Semantic rules still run on what decoded, so the bad host is reported too.
                "ExternalService global/third | spec.hosts[0] | hostFormat",
            ]
        )
    }

    @Test func unknownFieldsAndSemanticProblemsAreReportedTogether() throws {
        // An unknown field does not stop validation of the rest of the document.
        let text = Fixtures.externalService(spec: "hosts: [Example.com]\nport: 80\nports: [{number: 80, protocol: HTTP}]")
        #expect(
            Fixtures.violations(text).map { "\($0.field): \($0.rule)" } == [
                "spec.port: unknownField", "spec.hosts[0]: hostFormat",
            ]
        )
    }

    @Test func theSameResourceTwiceIsADuplicate() throws {
        let text = [Fixtures.google, Fixtures.googleWildcard, Fixtures.google].joined(separator: "\n---\n")
        #expect(
            Fixtures.violations(text) == [
                Violation(
                    resource: "ExternalService global/google", field: "", rule: .duplicateResource,
                    message: "appears twice in this manifest (first in document 1 (line 1), again in document 3 (line 29)); keep one"
                )
            ]
        )
    }

    @Test func theSameNameInAnotherKindOrNamespaceIsNoDuplicate() throws {
        let otherNamespace = Fixtures.google.replacingFirst("namespace: global", with: "namespace: other")
        let otherKind = Fixtures.endpoint.replacingFirst("name: google-ep", with: "name: google")
        #expect(try Manifest.load([Fixtures.google, otherNamespace, otherKind].joined(separator: "\n---\n")).count == 3)
    }

    @Test func syntaxErrorsAreThrownAsSuch() {
        #expect(throws: ManifestError.syntax(line: 1, column: 5, message: "mapping values are not allowed in this context")) {
            try Manifest.load("a: b: c")
        }
    }

    @Test func aListOfObjectsLoadsItsItems() throws {
        let text = """
            apiVersion: v1
            kind: List
            metadata: {resourceVersion: ""}
            items:
            \(Fixtures.indent("- " + Fixtures.indent(Fixtures.google, by: 2).dropFirst(2), by: 0))
            \(Fixtures.indent("- " + Fixtures.indent(Fixtures.googleWildcard, by: 2).dropFirst(2), by: 0))
            """
        #expect(try Manifest.load(text).map(\.metadata.name) == ["google", "google-wildcard"])
    }

    @Test func listItemsAreNamedByPositionWhenTheyCannotNameThemselves() {
        let text = "apiVersion: v1\nkind: List\nitems:\n  - kind: ExternalService\n  - 3\nextra: 1\n"
        #expect(
            Fixtures.violations(text).map { "\($0.resource) | \($0.field) | \($0.rule)" } == [
                "document 1 (line 1) | extra | unknownField",
                "document 1 (line 1) items[0] | apiVersion | required",
                "document 1 (line 1) items[0] | metadata | required",
                "document 1 (line 1) items[1] |  | wrongType",
            ]
        )
    }

    @Test func anEmptyListIsAnEmptyManifest() {
        #expect(throws: ManifestError.empty) { try Manifest.load("apiVersion: v1\nkind: List\nitems: []\n") }
    }

    @Test func invalidDescriptionHasOneLinePerViolation() {
        let error = ManifestError.invalid([
            Violation(resource: "ExternalService global/a", field: "spec", rule: .hostsXorAddresses, message: "x"),
            Violation(resource: "document 2 (line 9)", field: "", rule: .wrongType, message: "y"),
        ])
        #expect(error.description == "ExternalService global/a: spec: x\ndocument 2 (line 9): y")
        #expect(ManifestError.empty.description == "the manifest contains no documents")
    }

    @Test func everyRuleIdIsCamelCaseAndUnique() {
        let ids = ViolationRule.allCases.map(\.rawValue)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.first?.isLowercase == true && $0.allSatisfy { $0.isLetter || $0.isNumber } })
    }
}
