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

    /// How many malloc arenas the server uses unless `MALLOC_ARENA_MAX` says otherwise.
    static let arenas: Int32 = 2

    /// Caps glibc's malloc arenas at ``arenas`` (its default is 8 per core): with one arena per
    /// thread that ever contended, the relay's loops, the concurrency pool and the store's queues
    /// each fragmented an arena of their own under a stream of writes, and RSS grew 17–24 % in a
    /// minute of churn with little more memory in use (docs/benchmarks.md, "churn"). With two it
    /// grew 8 %. `MALLOC_ARENA_MAX` in the environment wins.
    ///
    /// Also fixes the size from which an allocation gets its own mapping at glibc's initial
    /// ``mmapThreshold``. By default glibc raises that threshold each time such a block is freed
    /// (up to 32 MiB), after which blocks of that size come from the heap, where a freed one
    /// stays in RSS: under churn the server's RSS rose in steps of 1–2 MiB over the minute. A
    /// fixed threshold gives large blocks back when they are freed. `MALLOC_MMAP_THRESHOLD_` in
    /// the environment wins. Called once at start-up.
    static func limitArenas() {
        #if canImport(Glibc)
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: MallOpt.self)
        // M_ARENA_MAX and M_MMAP_THRESHOLD from malloc.h.
        if getenv("MALLOC_ARENA_MAX") == nil { _ = mallopt(-8, arenas) }
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil { _ = mallopt(-3, mmapThreshold) }
        #endif
    }

    /// glibc's default (and initial) mmap threshold, 128 KiB, kept fixed (``limitArenas()``).
    static let mmapThreshold: Int32 = 128 * 1024
}
