import Foundation

/// Resource figures of a process from Linux's /proc (the server under test).
enum ProcessStats {
    /// The resident set size (`VmRSS`) of `pid` in bytes, `nil` when unavailable.
    static func residentBytes(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return nil
        }
        return self.residentBytes(statusText: text)
    }

    /// The `VmRSS` line of a /proc/PID/status text, in bytes.
    static func residentBytes(statusText: String) -> Int? {
        for line in statusText.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let kibibytes = Int(fields[1]) else {
                return nil
            }
            return kibibytes * 1024
        }
        return nil
    }

    /// User + system CPU time of `pid` in clock ticks, `nil` when unavailable.
    static func cpuTicks(pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            return nil
        }
        return self.cpuTicks(statText: text)
    }

    /// `utime + stime` (fields 14 and 15) of a /proc/PID/stat line. The command name (field 2)
    /// may hold spaces and parentheses, so fields are counted after its last `)`.
    static func cpuTicks(statText: String) -> Int? {
        guard let close = statText.lastIndex(of: ")") else {
            return nil
        }
        let rest = statText[statText.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state): utime (14) is rest[11], stime (15) is rest[12].
        guard rest.count > 12, let user = Int(rest[11]), let system = Int(rest[12]) else {
            return nil
        }
        return user + system
    }

    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`, 100 when unknown).
    static var ticksPerSecond: Int {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? ticks : 100
    }

    /// Raises this process's soft limit of open files to the hard limit (N agents need N sockets;
    /// the server, a child, inherits the limit). Returns the soft limit in force afterwards.
    @discardableResult
    static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else {
            return 0
        }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 {
                return UInt64(raised.rlim_cur)
            }
        }
        return UInt64(limit.rlim_cur)
    }
}

/// CPU time of the server under test and of this harness over a stretch of a scenario (clock
/// ticks from /proc): steadier than latencies on a shared machine, for before/after comparisons.
struct CPUWindow {
    private let serverPID: Int32?
    private let serverTicks: Int?
    private let harnessTicks: Int?

    /// Opens the window now; `serverPID` nil when the scenario uses a server it did not start.
    init(serverPID: Int32?) {
        self.serverPID = serverPID
        self.serverTicks = serverPID.flatMap { ProcessStats.cpuTicks(pid: $0) }
        self.harnessTicks = ProcessStats.cpuTicks(pid: getpid())
    }

    /// CPU seconds of each process since the window opened; nil where /proc could not be read.
    func elapsedSeconds() -> (server: Double?, harness: Double?) {
        let ticksPerSecond = Double(ProcessStats.ticksPerSecond)
        func seconds(_ before: Int?, _ after: Int?) -> Double? {
            guard let before, let after else { return nil }
            return Double(after - before) / ticksPerSecond
        }
        return (
            seconds(serverTicks, serverPID.flatMap { ProcessStats.cpuTicks(pid: $0) }),
            seconds(harnessTicks, ProcessStats.cpuTicks(pid: getpid()))
        )
    }
}
