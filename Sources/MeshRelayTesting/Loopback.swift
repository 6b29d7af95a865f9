import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A socket call on 127.0.0.1 failed.
public struct LoopbackError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A TCP port that was free a moment ago on 127.0.0.1, for a child process to bind.
public func freeLoopbackPort() throws(LoopbackError) -> Int {
    // Below the kernel's ephemeral range (32768–60999 on Linux): a port the kernel picks for
    // another process's `bind(…:0)` or outgoing connection can never be this one, which a port
    // taken from that range could be by the time our child binds it (tests run in parallel).
    // Each port is handed out once per test process.
    for _ in 0..<500 {
        let port = Int.random(in: 20_000...32_000)
        guard PortsHandedOut.claim(port) else { continue }
        if isBindable(port) { return port }
    }
    throw LoopbackError("no free port found between 20000 and 32000 on 127.0.0.1 after 500 tries")
}

/// Ports `freeLoopbackPort()` returned in this process.
private enum PortsHandedOut {
    static let ports = Mutex<Set<Int>>([])

    static func claim(_ port: Int) -> Bool {
        ports.withLock { $0.insert(port).inserted }
    }
}

/// Whether 127.0.0.1:`port` can be bound now (nothing listens there, nothing lingers).
private func isBindable(_ port: Int) -> Bool {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { return false }
    defer { close(descriptor) }
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    } == 0
}

/// A blocking TCP socket connected to 127.0.0.1:`port`; the caller closes it.
public func connectLoopback(port: Int) throws(LoopbackError) -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard descriptor >= 0 else { throw LoopbackError("socket() failed (errno \(errno))") }
    var address = loopbackAddress(port: port)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        let failure = errno
        close(descriptor)
        throw LoopbackError("connect to 127.0.0.1:\(port) failed (errno \(failure))")
    }
    return descriptor
}

private func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}
