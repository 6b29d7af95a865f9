#if canImport(Glibc)
import Glibc
#endif

/// Gives memory back to the operating system after a large request.
///
/// Parsing a multi-megabyte manifest allocates a lot of short-lived memory; glibc keeps freed
/// heap pages mapped, so an idle server that once took a 10,000-resource apply would keep its
/// peak RSS for good. `malloc_trim(0)` returns those pages.
enum MemoryTrimmer {
    /// Bodies at least this large trigger a trim once the request is done.
    static let largeRequestBytes = 1 << 20

    /// Trims shortly after the current request finished (its buffers are freed by then).
    static func trimSoon() {
        Task.detached(priority: .background) {
            try? await Task.sleep(for: .milliseconds(500))
            trimNow()
        }
    }

    static func trimNow() {
        #if canImport(Glibc)
        // malloc.h is not in Glibc's module map; look the symbol up instead.
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }
}
