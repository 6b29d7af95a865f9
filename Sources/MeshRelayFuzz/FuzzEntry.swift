import Foundation

#if FUZZING
/// libFuzzer's driver (from `libclang_rt.fuzzer_no_main`, linked by scripts/fuzz.sh).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt
#endif

/// The two fuzz targets; `MESHRELAY_FUZZ_TARGET` picks one (`frames` when unset).
enum FuzzTarget: String {
    /// Relay frames, payloads and both session state machines (``FuzzTargets``).
    case frames
    /// Manifest text through the YAML parser, resource decoder, validator and YAML round trip
    /// (``ManifestFuzzTarget``).
    case manifests

    static var selected: FuzzTarget {
        ProcessInfo.processInfo.environment["MESHRELAY_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:)) ?? .frames
    }

    func run(_ bytes: [UInt8]) {
        switch self {
        case .frames: FuzzTargets.run(bytes)
        case .manifests: ManifestFuzzTarget.run(bytes)
        }
    }
}

/// Built normally: replays inputs (files or directories of files) through the selected fuzz
/// target, how crash inputs stay regression tests; `--write-manifest-seeds DIR` writes the guide's
/// manifests as a starting corpus. Built by scripts/fuzz.sh (`-D FUZZING`, coverage
/// instrumentation, libFuzzer without its own main): runs libFuzzer with the usual flags.
@main
struct FuzzMain {
    /// Read once (a lazy static), not on each of libFuzzer's millions of calls.
    static let target = FuzzTarget.selected

    static func main() throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-manifest-seeds", arguments.count == 2 {
            try ManifestFuzzTarget.writeSeeds(to: arguments[1])
            return
        }
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            guard let data else { return 0 }
            FuzzMain.target.run(Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
        exit(status)
        #else
        var count = 0
        for path in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                target.run(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("replayed \(count) inputs")
        #endif
    }
}
