import Testing

@testable import MeshRelayModel

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("10.0.0.1", IPAddress.Family.v4, "10.0.0.1"),
        ("0.0.0.0", .v4, "0.0.0.0"),
        ("::1", .v6, "::1"),
        ("::", .v6, "::"),
        ("2001:DB8:0:0:0:0:0:1", .v6, "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", .v6, "2001:db8::1:0:0:1"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", .v6, "2001:db8::ff00:42:8329"),
        ("1:0:1:1:1:1:1:1", .v6, "1:0:1:1:1:1:1:1"),
        ("::ffff:10.0.0.1", .v6, "::ffff:a00:1"),
        ("1:2:3:4:5:6:1.2.3.4", .v6, "1:2:3:4:5:6:102:304"),
        ("fe80::", .v6, "fe80::"),
    ])
    func parsesAndPrintsCanonically(text: String, family: IPAddress.Family, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.family == family)
        #expect(address.bytes.count == (family == .v4 ? 4 : 16))
        #expect(address.description == canonical)
        #expect(IPAddress(canonical) == address)
    }

    @Test(arguments: [
        "", "1", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "1.2.3.4 ", "+1.2.3.4", "1..3.4",
        ":", ":1", "1:", "1::2::3", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::8", "12345::", "::g",
        "1.2.3.4::", "::1.2.3", "::1.2.3.4.5", "fe80::1%eth0", "[::1]", "١.٢.٣.٤",
    ])
    func refusesMalformedAddresses(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test(arguments: [
        ("10.0.0.0/8", 8, false), ("10.0.0.1", 32, true), ("0.0.0.0/0", 0, false), ("2001:db8::/32", 32, false),
        ("::1", 128, true), ("::/128", 128, true),
    ])
    func parsesRanges(text: String, prefix: Int, single: Bool) throws {
        let range = try #require(CIDRRange(text))
        #expect(range.prefixLength == prefix)
        #expect(range.isSingleAddress == single)
    }

    @Test(arguments: ["10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/1000", "10.0.0.0/a", "/8", "1/2/3"])
    func refusesMalformedRanges(text: String) {
        #expect(CIDRRange(text) == nil)
    }

    @Test func rangeDescriptionIsCanonical() {
        #expect(CIDRRange("2001:DB8:0::/32")?.description == "2001:db8::/32")
        #expect(CIDRRange("10.1.2.3")?.description == "10.1.2.3/32")
    }
}

@Suite struct NameFormatTests {
    @Test func labelsAndSubdomains() {
        #expect(NameFormat.isDNS1123Label("a"))
        #expect(NameFormat.isDNS1123Label(String(repeating: "a", count: 63)))
        #expect(!NameFormat.isDNS1123Label(String(repeating: "a", count: 64)))
        #expect(!NameFormat.isDNS1123Label("a.b"))
        #expect(NameFormat.isDNS1123Subdomain("a.b-c.d"))
        #expect(!NameFormat.isDNS1123Subdomain("a..b"))
        #expect(!NameFormat.isDNS1123Subdomain(".a"))
        let longest = Array(repeating: String(repeating: "a", count: 61), count: 4).joined(separator: ".") + ".a"
        #expect(longest.count == 249)
        #expect(NameFormat.isDNS1123Subdomain(longest))
        #expect(!NameFormat.isDNS1123Subdomain(longest + "aaaaa"))
    }

    @Test func labelKeysAndValues() {
        #expect(NameFormat.isLabelKey("app.kubernetes.io/name"))
        #expect(NameFormat.isLabelKey("A_b.c-D"))
        #expect(!NameFormat.isLabelKey(""))
        #expect(!NameFormat.isLabelKey("prefix/"))
        #expect(!NameFormat.isLabelKey("_a"))
        #expect(NameFormat.isLabelValue(""))
        #expect(NameFormat.isLabelValue("v1.2_3-x"))
        #expect(!NameFormat.isLabelValue("a/b"))
        #expect(!NameFormat.isLabelValue("x."))
    }

    @Test func serviceHosts() {
        #expect(NameFormat.isServiceHost("*.google.com"))
        #expect(!NameFormat.isServiceHost("*"))
        #expect(!NameFormat.isServiceHost("*.*.com"))
        #expect(!NameFormat.isServiceHost("1.2.3.4"))
        #expect(!NameFormat.isServiceHost("*.1.2.3"))
    }
}
