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

/// Built normally: replays inputs (files or directories of files) through the fuzz targets, how
/// crash inputs stay regression tests. Built by scripts/fuzz.sh (`-D FUZZING`, coverage
/// instrumentation, libFuzzer without its own main): runs libFuzzer with the usual flags.
@main
struct FuzzMain {
    static func main() throws {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            guard let data else { return 0 }
            FuzzTargets.run(Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
        exit(status)
        #else
        var count = 0
        for path in CommandLine.arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { path + "/" + $0 }
                : [path]
            for file in files {
                FuzzTargets.run(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                count += 1
            }
        }
        print("replayed \(count) inputs")
        #endif
    }
}
