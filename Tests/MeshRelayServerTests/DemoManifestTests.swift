import MeshRelayCLI
import MeshRelayTesting
import Testing

@Suite("The demo's manifests")
struct DemoManifestTests {
    @Test func theDemoAppliesTheGuidesExternalServicesVerbatim() {
        #expect(DemoManifests.google == SeedManifests.google)
        #expect(DemoManifests.googleWildcard == SeedManifests.googleWildcard)
    }
}
