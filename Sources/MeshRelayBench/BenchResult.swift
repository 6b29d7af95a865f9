/// One value of a ``BenchResult``.
public enum BenchValue: Sendable, Hashable {
    case int(Int64)
    case double(Double)
    case string(String)
    case bool(Bool)
    /// A list of numbers (samples for plots).
    case numbers([Double])
    case null
}

/// The result of one scenario: a flat JSON object whose first key is `scenario`, with the other
/// keys in the order they were set (the interface of docs/benchmarks.md; printed as the last line
/// of standard output with `--json`).
public struct BenchResult: Sendable, Hashable {
    /// Keys and values, in output order.
    public private(set) var fields: [Field]

    /// One key and its value.
    public struct Field: Sendable, Hashable {
        public var key: String
        public var value: BenchValue
    }

    /// - Parameter scenario: The value of the `scenario` key.
    public init(scenario: String) {
        self.fields = [Field(key: "scenario", value: .string(scenario))]
    }

    /// The value of `key`, if set.
    public subscript(key: String) -> BenchValue? {
        self.fields.first { $0.key == key }?.value
    }

    /// Sets `key` (replacing its value in place when already set, else appending it).
    public mutating func set(_ key: String, _ value: BenchValue) {
        if let index = self.fields.firstIndex(where: { $0.key == key }) {
            self.fields[index].value = value
        } else {
            self.fields.append(Field(key: key, value: value))
        }
    }

    /// Sets an integer.
    public mutating func set(_ key: String, _ value: Int) {
        self.set(key, .int(Int64(value)))
    }

    /// Sets a number.
    public mutating func set(_ key: String, _ value: Double) {
        self.set(key, .double(value))
    }

    /// Sets the figures of a fan-out (`fanout`, `etcd-fanout`, `floor` share them): per write the
    /// latency of the last agent (`p50_ms`, `p99_ms`, `max_ms`, and every sample in `samples_ms`),
    /// per agent (`agent_…`, and `agent_cdf_ms`: the per-agent latency at percentiles 0, 1, …,
    /// 100), and of the write itself (`api_…`, when measured).
    mutating func setFanout(agents: Int, writes: Int, lastAgent: [Double], perAgent: [Double], write: [Double]) {
        let last = LatencySummary(milliseconds: lastAgent)
        let each = LatencySummary(milliseconds: perAgent)
        self.set("agents", agents)
        self.set("writes", writes)
        self.set(prefix: "", last)
        self.set(prefix: "agent_", each)
        if !write.isEmpty {
            self.set(prefix: "api_", LatencySummary(milliseconds: write))
        }
        self.set("acks", each.count)
        self.set("samples_ms", .numbers(lastAgent))
        if !write.isEmpty { self.set("api_samples_ms", .numbers(write)) }
        let sorted = perAgent.sorted()
        self.set("agent_cdf_ms", .numbers(sorted.isEmpty ? [] : (0...100).map { LatencySummary.percentile(Double($0), ofSorted: sorted) }))
    }

    /// Sets `PREFIXp50_ms`, `PREFIXp99_ms` and `PREFIXmax_ms` from a summary.
    public mutating func set(prefix: String, _ summary: LatencySummary) {
        self.set("\(prefix)p50_ms", summary.p50)
        self.set("\(prefix)p99_ms", summary.p99)
        self.set("\(prefix)max_ms", summary.max)
    }

    /// The object as one line of JSON: numbers with at most 3 decimals, non-finite numbers as
    /// `null`.
    public var jsonLine: String {
        var out = "{"
        for (position, field) in self.fields.enumerated() {
            if position > 0 {
                out += ","
            }
            out += Self.quoted(field.key)
            out += ":"
            out += Self.encode(field.value)
        }
        out += "}"
        return out
    }

    static func encode(_ value: BenchValue) -> String {
        switch value {
        case .int(let number):
            return String(number)
        case .double(let number):
            return Self.format(number)
        case .string(let text):
            return Self.quoted(text)
        case .bool(let flag):
            return flag ? "true" : "false"
        case .numbers(let numbers):
            return "[" + numbers.map { Self.format($0) }.joined(separator: ",") + "]"
        case .null:
            return "null"
        }
    }

    /// A finite number rounded to 3 decimals, without trailing zeros (`12.5`, `3`, `0.001`).
    static func format(_ number: Double) -> String {
        guard number.isFinite else {
            return "null"
        }
        let thousandths = (number * 1000).rounded()
        guard abs(thousandths) < 9e15 else {
            return String(number)
        }
        let scaled = Int64(thousandths)
        let sign = scaled < 0 ? "-" : ""
        let magnitude = scaled.magnitude
        let whole = magnitude / 1000
        var fraction = String(magnitude % 1000)
        guard fraction != "0" else {
            return "\(sign)\(whole)"
        }
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") {
            fraction.removeLast()
        }
        return "\(sign)\(whole).\(fraction)"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
