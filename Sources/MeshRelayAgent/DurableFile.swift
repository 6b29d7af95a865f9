import Foundation

/// Replaces files so that a crash at any moment leaves the old or the new content, never a mix:
/// write a temporary file in the same directory, fsync it, rename it onto the name (the only
/// change Envoy's file watches react to), fsync the directory.
enum DurableFile {
    /// Replaces `path` with `contents`.
    /// - Parameters:
    ///   - code: The ``AgentError`` code of a failure (state file or data plane).
    ///   - mode: Permissions of the new file.
    static func replace(_ path: String, with contents: some Collection<UInt8>, code: AgentError.Code, mode: mode_t = 0o644) throws(AgentError) {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent().appendingPathComponent("." + url.lastPathComponent + ".tmp").path
        try write(Array(contents), to: temporary, code: code, mode: mode)
        guard rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            throw AgentError(code, "cannot rename \(temporary) onto \(path): errno \(failure)")
        }
        let descriptor = open(directory, O_RDONLY)
        if descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
    }

    private static func write(_ bytes: [UInt8], to path: String, code: AgentError.Code, mode: mode_t) throws(AgentError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard descriptor >= 0 else { throw AgentError(code, "cannot create \(path): errno \(errno)") }
        defer { close(descriptor) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.write(descriptor, buffer.baseAddress?.advanced(by: offset), buffer.count - offset)
            }
            guard written > 0 else { throw AgentError(code, "cannot write \(path): errno \(errno)") }
            offset += written
        }
        guard fsync(descriptor) == 0 else { throw AgentError(code, "cannot fsync \(path): errno \(errno)") }
    }
}
