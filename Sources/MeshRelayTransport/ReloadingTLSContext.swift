import Foundation
public import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TLS context that follows its files: each new connection asks for ``current()``, which
/// rebuilds the context when a file changed (size, modification time or inode — an atomic rename
/// counts). A set of files that does not load (a half-finished copy, a key that does not match)
/// keeps the previous context and reports why, so a rotation never takes the listener down.
/// Connections already open are never touched.
public final class ReloadingTLSContext: Sendable {
    /// What `current()` found.
    public struct Snapshot: Sendable {
        public let context: NIOSSLContext
        /// The context was rebuilt from changed files for this call.
        public let reloaded: Bool
        /// The files changed but could not be loaded (the previous context is kept).
        public let reloadError: String?
    }

    private struct Stamp: Equatable {
        var size: Int64
        var modified: Int64
        var inode: UInt64
    }

    private let files: [String]
    private let make: @Sendable () throws -> NIOSSLContext
    private let state: Mutex<(stamps: [Stamp?], context: NIOSSLContext)>

    /// Loads the files once.
    /// - Throws: What `make` throws: the first load must work.
    public init(files: [String], make: @escaping @Sendable () throws -> NIOSSLContext) throws {
        self.files = files
        self.make = make
        let stamps = files.map(Self.stamp)
        self.state = Mutex((stamps, try make()))
    }

    public func current() -> Snapshot {
        let stamps = files.map(Self.stamp)
        return state.withLock { state in
            guard stamps != state.stamps else { return Snapshot(context: state.context, reloaded: false, reloadError: nil) }
            do {
                state.context = try make()
                state.stamps = stamps
                return Snapshot(context: state.context, reloaded: true, reloadError: nil)
            } catch {
                // Not remembered as loaded: the next connection tries again.
                return Snapshot(context: state.context, reloaded: false, reloadError: "\(error)")
            }
        }
    }

    private static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Stamp(
            size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec), inode: UInt64(info.st_ino))
    }
}
