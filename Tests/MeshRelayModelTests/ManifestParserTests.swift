import Testing

@testable import MeshRelayModel

@Suite struct ManifestParserTests {
    // MARK: Documents

    @Test func documentsAreNumberedWithTheirStartLine() throws {
        let documents = try ManifestParser.parse("a: 1\n---\n# comment\nb: 2\n---\n\n---\nnull\n---\nc: 3\n---\n")
        #expect(documents.map(\.index) == [0, 1, 2])
        #expect(documents.map(\.line) == [1, 4, 10])
        #expect(documents.map(\.value) == [.object(["a": .int(1)]), .object(["b": .int(2)]), .object(["c": .int(3)])])
        #expect(documents.map(\.label) == ["document 1 (line 1)", "document 2 (line 4)", "document 3 (line 10)"])
    }

    @Test func aTrailingSeparatorIsFine() throws {
        let resources = try Manifest.load(Fixtures.google + "\n---\n")
        #expect(resources.count == 1)
    }

    @Test(arguments: ["", "\n", "# nothing here\n", "---\n", "---\n...\n---\n", "null\n", "~"])
    func textWithoutDocuments(text: String) throws {
        #expect(try ManifestParser.parse(text) == [])
        #expect(throws: ManifestError.empty) { try Manifest.load(text) }
    }

    @Test func jsonIsParsedByTheSameParser() throws {
        let documents = try ManifestParser.parse(#"{"a": [1, -2.5, true, null, "x\/y"], "b": {}, "c": "80"}"#)
        #expect(
            documents.map(\.value) == [
                .object([
                    "a": .array([.int(1), .double(-2.5), .bool(true), .null, .string("x/y")]),
                    "b": .object([:]),
                    "c": .string("80"),
                ])
            ]
        )
    }

    // MARK: Scalars

    @Test(arguments: [
        ("80", JSONValue.int(80)),
        ("-7", .int(-7)),
        ("0x1F", .int(31)),
        ("0o17", .int(15)),
        ("010", .int(10)),
        ("9223372036854775807", .int(Int64.max)),
        ("1.5", .double(1.5)),
        ("1e3", .double(1000)),
        (".5", .double(0.5)),
        ("true", .bool(true)),
        ("False", .bool(false)),
        ("null", .null),
        ("~", .null),
        ("", .null),
        // YAML 1.1 booleans, sexagesimals and timestamps are strings in the 1.2 core schema.
        ("yes", .string("yes")),
        ("on", .string("on")),
        ("off", .string("off")),
        ("1:30", .string("1:30")),
        ("2024-01-01", .string("2024-01-01")),
        ("1_000", .string("1_000")),
        ("0x", .string("0x")),
        ("www.google.com", .string("www.google.com")),
        // Quoted and block scalars are always strings.
        ("\"80\"", .string("80")),
        ("'true'", .string("true")),
        ("''", .string("")),
        ("\"null\"", .string("null")),
        ("|\n  80", .string("80\n")),
        // Explicit tags are honoured.
        ("!!int \"80\"", .int(80)),
        ("!!str 80", .string("80")),
        ("!!float 1", .double(1)),
        ("! 80", .string("80")),
    ])
    func scalarsAreTypedByTheCoreSchema(yaml: String, expected: JSONValue) throws {
        let documents = try ManifestParser.parse("value: \(yaml)\n")
        #expect(documents.first?.value == .object(["value": expected]))
    }

    @Test(arguments: [
        ("99999999999999999999", "cannot read \"99999999999999999999\" as a 64-bit integer"),
        (".inf", "cannot read \".inf\" as a finite number (.inf and .nan are not supported)"),
        (".nan", "cannot read \".nan\" as a finite number (.inf and .nan are not supported)"),
        ("!!bool yes", "cannot read \"yes\" as a boolean"),
        ("!!int abc", "cannot read \"abc\" as a 64-bit integer"),
    ])
    func unreadableScalarsAreSyntaxErrors(yaml: String, message: String) {
        #expect(throws: ManifestError.syntax(line: 2, column: 8, message: message)) {
            try ManifestParser.parse("ok: 1\nvalue: \(yaml)\n")
        }
    }

    // MARK: Syntax errors

    @Test func aSyntaxErrorReportsLibyamlsLineAndColumn() {
        let text = """
            apiVersion: networking.gloo.solo.io/v2
            kind: ExternalService
            metadata:
              name: google: x
            """
        #expect(
            throws: ManifestError.syntax(line: 4, column: 15, message: "mapping values are not allowed in this context")
        ) {
            try ManifestParser.parse(text)
        }
    }

    @Test func aSyntaxErrorDescriptionIsReadable() {
        let error = ManifestError.syntax(line: 4, column: 3, message: "mapping values are not allowed in this context")
        #expect(error.description == "line 4, column 3: mapping values are not allowed in this context")
    }

    @Test func aSyntaxErrorInALaterDocumentFailsTheWholeParse() {
        let text = Fixtures.google + "\n---\nspec:\n  ports: [1, 2\n"
        #expect(
            throws: ManifestError.syntax(
                line: 17, column: 1,
                message: "did not find expected ',' or ']' (while parsing a flow sequence at line 16, column 10)"
            )
        ) {
            try ManifestParser.parse(text)
        }
    }

    @Test func anUnterminatedQuoteNamesWhereItStarted() {
        #expect(
            throws: ManifestError.syntax(
                line: 2, column: 1,
                message: "found unexpected end of stream (while scanning a quoted scalar at line 1, column 8)"
            )
        ) {
            try ManifestParser.parse("hosts: \"www.google.com\n")
        }
    }

    @Test func controlCharactersAreRefused() {
        #expect(throws: ManifestError.syntax(line: 2, column: 4, message: "control characters are not allowed")) {
            try ManifestParser.parse("a: 1\nb: \u{7}\n")
        }
    }

    // MARK: Refused YAML features

    @Test(arguments: [
        ("metadata:\n  name: a\n  namespace: b\n  name: c\n", 2),
        ("metadata:\n  name: a\n  namespace: b\n  'name': c\n", 4),
        ("{\"a\": 1, \"b\": 2,\n \"a\": 3}", 1),
    ])
    func duplicateKeysAreRefused(text: String, line: Int) throws {
        let error = try #require(throws: ManifestError.self) { try ManifestParser.parse(text) }
        guard case .syntax(line, _, let message) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(message.hasPrefix("key \"") && message.hasSuffix("\" appears more than once in this mapping"))
    }

    @Test(arguments: [
        ("80: x\n", "mapping keys must be strings; quote \"80\""),
        ("true: x\n", "mapping keys must be strings; quote \"true\""),
        ("~: x\n", "mapping keys must be strings; quote \"~\""),
        ("? [a]\n: x\n", "mapping keys must be strings, not lists or mappings"),
    ])
    func nonStringKeysAreRefused(text: String, message: String) throws {
        let error = try #require(throws: ManifestError.self) { try ManifestParser.parse(text) }
        guard case .syntax(line: 1, _, let actual) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(actual == message)
    }

    @Test func quotedKeysThatLookLikeNumbersAreStrings() throws {
        #expect(try ManifestParser.parse("'80': x\n").first?.value == .object(["80": .string("x")]))
    }

    @Test func anchorsAreRefused() {
        let text = """
            base: &ports
              - number: 80
            spec:
              ports: *ports
            """
        #expect(throws: ManifestError.syntax(line: 1, column: 7, message: ManifestParser.anchorsNotSupported)) {
            try ManifestParser.parse(text)
        }
    }

    @Test func anAliasWithoutAnchorIsRefusedWithAHintAboutWildcards() throws {
        // The classic mistake: an unquoted wildcard host is YAML alias syntax.
        let error = try #require(throws: ManifestError.self) {
            try ManifestParser.parse("spec:\n  hosts:\n    - *.google.com\n")
        }
        guard case .syntax(line: 3, _, let message) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(message.hasPrefix(ManifestParser.anchorsNotSupported))
        #expect(message.contains("\"*.google.com\""))
    }

    @Test func anAliasToAnUndefinedAnchorIsRefused() throws {
        let error = try #require(throws: ManifestError.self) { try ManifestParser.parse("a: *ports\n") }
        guard case .syntax(line: 1, column: 4, let message) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(message.hasPrefix(ManifestParser.anchorsNotSupported))
    }

    @Test func aBillionLaughsBombIsRefusedBeforeExpansion() throws {
        var lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...30 {
            let previous = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            lines.append("a\(level): &a\(level) [\(previous)]")
        }
        // As a key too: Yams hashes keys in full while it composes the document.
        lines.append("? *a30\n: boom")
        let error = try #require(throws: ManifestError.self) { try ManifestParser.parse(lines.joined(separator: "\n")) }
        #expect(error == .syntax(line: 1, column: 5, message: ManifestParser.anchorsNotSupported))
    }

    @Test(arguments: [
        ("a: &x 1", 1, 4),
        ("- &x 1", 1, 3),
        ("[1, &x 2]", 1, 5),
        ("{a: 1,&x b: 2}", 1, 7),
        ("a: !!str &x b", 1, 10),
        ("--- &x\na: 1", 1, 5),
        ("a:\n  &x\n  b: 1", 2, 3),
        ("? &x a\n: 1", 1, 3),
        ("\u{FEFF}&x a: 1", 1, 2),
    ])
    func anchorsAreFoundWhereverLibyamlWouldReadThem(text: String, line: Int, column: Int) {
        #expect(AnchorScanner.firstAnchor(in: text).map { [$0.line, $0.column] } == [line, column])
        #expect(throws: ManifestError.self) { try ManifestParser.parse(text) }
    }

    @Test(arguments: [
        "description: Tom &Jerry",
        "command: a && b",
        "url: \"https://x.example/?a=1&b=2\"",
        "note: '&'",
        "note: R&D",
        // Found by the manifest fuzzer: compact JSON is one word, and a `!` earlier in it is no tag.
        #"{"name":"a!b","address":"127.0&0.1"}"#,
    ])
    func ampersandsInTextAreNotAnchors(text: String) throws {
        #expect(AnchorScanner.firstAnchor(in: text) == nil)
        #expect(try ManifestParser.parse(text).count == 1)
    }

    @Test func nestingUpToTheLimitIsAccepted() throws {
        let depth = ManifestParser.maximumDepth
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(try ManifestParser.parse(text).count == 1)
    }

    @Test(arguments: [ManifestParser.maximumDepth + 1, 1_000, 100_000])
    func nestingBeyondTheLimitIsRefused(depth: Int) throws {
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let error = try #require(throws: ManifestError.self) { try ManifestParser.parse(text) }
        guard case .syntax(line: 1, _, let message) = error else {
            Issue.record("unexpected \(error)")
            return
        }
        #expect(message == "nesting deeper than 64 levels is not supported")
    }

    @Test func deepBlockNestingIsRefused() throws {
        let text = String(repeating: "- ", count: 5_000) + "x"
        #expect(throws: ManifestError.self) { try ManifestParser.parse(text) }
    }
}
