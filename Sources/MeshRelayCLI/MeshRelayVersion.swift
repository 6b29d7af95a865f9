/// The version this build reports (CLI `--version`, user agent, later the agent's hello).
public enum MeshRelayVersion {
    public static let current = "0.1.0"
}
