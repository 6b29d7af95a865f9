import NIOCore

/// Hand-written protobuf coding of the two messages that carry resources — UPDATE (decoded by
/// agents) and ACK (encoded by agents, decoded by the server) — next to SwiftProtobuf, which
/// codes everything else.
///
/// SwiftProtobuf's generic decoding is not specialised across modules: a 10,000-resource snapshot
/// (2.5 MB) took most of an agent's time for an initial sync, and the server spent as long on
/// the ACK of it. These functions read and write the same wire format directly.
///
/// The decoders are a fast path only: they return `nil` for anything but a well-formed, valid
/// message — unknown wire types (groups), a singular message field given twice (protobuf would
/// merge them), invalid UTF-8, a negative version, a missing key, an unknown result state, … —
/// and the caller then decodes with SwiftProtobuf, which produces the error (or the merged
/// message) exactly as before. Unknown fields of the known wire types are skipped, as
/// SwiftProtobuf does. `FastWireCodingTests` checks both paths agree on valid messages and on
/// mutated bytes, and that the ACK encoder writes the bytes SwiftProtobuf writes.
enum FastWireCoding {
    // MARK: Decoding

    /// Decodes an UPDATE payload; `nil` when SwiftProtobuf must decide.
    static func update(_ payload: ByteBuffer) -> Update? {
        payload.withUnsafeReadableBytes { bytes -> Update? in
            var reader = Reader(bytes, 0, bytes.count)
            var revision: Int64 = 0
            var isSnapshot = false
            var upserts: [RelayResource] = []
            var removals: [RelayResourceKey] = []
            while !reader.atEnd {
                guard let (field, wire) = reader.tag() else { return nil }
                switch (field, wire) {
                case (1, 0):
                    guard let value = reader.varint() else { return nil }
                    revision = Int64(bitPattern: value)
                case (2, 0):
                    guard let value = reader.varint() else { return nil }
                    isSnapshot = value != 0
                case (3, 2):
                    guard let range = reader.lengthDelimited(), let resource = Self.resource(bytes, range) else { return nil }
                    upserts.append(resource)
                case (4, 2):
                    guard let range = reader.lengthDelimited(), let key = Self.key(bytes, range) else { return nil }
                    removals.append(key)
                case (1...4, _):
                    return nil
                default:
                    guard reader.skip(wire: wire) else { return nil }
                }
            }
            guard revision >= 0 else { return nil }
            return Update(revision: revision, isSnapshot: isSnapshot, upserts: upserts, removals: removals)
        }
    }

    /// Decodes an ACK payload; `nil` when SwiftProtobuf must decide.
    static func ack(_ payload: ByteBuffer) -> Ack? {
        payload.withUnsafeReadableBytes { bytes -> Ack? in
            var reader = Reader(bytes, 0, bytes.count)
            var revision: Int64 = 0
            var results: [ResourceResult] = []
            while !reader.atEnd {
                guard let (field, wire) = reader.tag() else { return nil }
                switch (field, wire) {
                case (1, 0):
                    guard let value = reader.varint() else { return nil }
                    revision = Int64(bitPattern: value)
                case (2, 2):
                    guard let range = reader.lengthDelimited(), let result = Self.result(bytes, range) else { return nil }
                    results.append(result)
                case (1...2, _):
                    return nil
                default:
                    guard reader.skip(wire: wire) else { return nil }
                }
            }
            guard revision >= 0 else { return nil }
            return Ack(revision: revision, results: results)
        }
    }

    private static func resource(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> RelayResource? {
        var reader = Reader(bytes, range.lowerBound, range.upperBound)
        var key: RelayResourceKey?
        var version: Int64 = 0
        var generation: Int64 = 0
        var labels: [String: String] = [:]
        var specJSON: [UInt8] = []
        var creationTimestamp = ""
        while !reader.atEnd {
            guard let (field, wire) = reader.tag() else { return nil }
            switch (field, wire) {
            case (1, 2):
                guard key == nil, let range = reader.lengthDelimited(), let decoded = Self.key(bytes, range) else { return nil }
                key = decoded
            case (2, 0):
                guard let value = reader.varint() else { return nil }
                version = Int64(bitPattern: value)
            case (3, 0):
                guard let value = reader.varint() else { return nil }
                generation = Int64(bitPattern: value)
            case (4, 2):
                guard let range = reader.lengthDelimited(), let (name, value) = Self.label(bytes, range) else { return nil }
                labels[name] = value
            case (5, 2):
                guard let range = reader.lengthDelimited() else { return nil }
                specJSON = Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
            case (6, 2):
                guard let range = reader.lengthDelimited(), let text = Self.string(bytes, range) else { return nil }
                creationTimestamp = text
            case (1...6, _):
                return nil
            default:
                guard reader.skip(wire: wire) else { return nil }
            }
        }
        guard let key, version >= 0, generation >= 0 else { return nil }
        return RelayResource(key: key, version: version, generation: generation, labels: labels, specJSON: specJSON, creationTimestamp: creationTimestamp)
    }

    private static func result(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> ResourceResult? {
        var reader = Reader(bytes, range.lowerBound, range.upperBound)
        var key: RelayResourceKey?
        var version: Int64 = 0
        var state: Int32 = 0
        var message = ""
        while !reader.atEnd {
            guard let (field, wire) = reader.tag() else { return nil }
            switch (field, wire) {
            case (1, 2):
                guard key == nil, let range = reader.lengthDelimited(), let decoded = Self.key(bytes, range) else { return nil }
                key = decoded
            case (2, 0):
                guard let value = reader.varint() else { return nil }
                version = Int64(bitPattern: value)
            case (3, 0):
                guard let value = reader.varint() else { return nil }
                state = Int32(truncatingIfNeeded: value)
            case (4, 2):
                guard let range = reader.lengthDelimited(), let text = Self.string(bytes, range) else { return nil }
                message = text
            case (1...4, _):
                return nil
            default:
                guard reader.skip(wire: wire) else { return nil }
            }
        }
        guard let key, version >= 0, let resultState = ResourceResult.State(rawValue: UInt32(clamping: state)), state > 0 else { return nil }
        return ResourceResult(key: key, version: version, state: resultState, message: message)
    }

    /// A resource key with a kind and a name (else `nil`: SwiftProtobuf's path reports it).
    private static func key(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> RelayResourceKey? {
        var reader = Reader(bytes, range.lowerBound, range.upperBound)
        var kind = ""
        var namespace = ""
        var name = ""
        while !reader.atEnd {
            guard let (field, wire) = reader.tag() else { return nil }
            switch (field, wire) {
            case (1...3, 2):
                guard let range = reader.lengthDelimited(), let text = Self.string(bytes, range) else { return nil }
                switch field {
                case 1: kind = text
                case 2: namespace = text
                default: name = text
                }
            case (1...3, _):
                return nil
            default:
                guard reader.skip(wire: wire) else { return nil }
            }
        }
        guard !kind.isEmpty, !name.isEmpty else { return nil }
        return RelayResourceKey(kind: kind, namespace: namespace, name: name)
    }

    /// One entry of a `map<string, string>` (a missing key or value is empty).
    private static func label(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> (String, String)? {
        var reader = Reader(bytes, range.lowerBound, range.upperBound)
        var name = ""
        var value = ""
        while !reader.atEnd {
            guard let (field, wire) = reader.tag() else { return nil }
            switch (field, wire) {
            case (1...2, 2):
                guard let range = reader.lengthDelimited(), let text = Self.string(bytes, range) else { return nil }
                if field == 1 { name = text } else { value = text }
            case (1...2, _):
                return nil
            default:
                guard reader.skip(wire: wire) else { return nil }
            }
        }
        return (name, value)
    }

    /// Valid UTF-8 as a string (else `nil`: SwiftProtobuf refuses it).
    ///
    /// ASCII (kinds, namespaces, names: nearly every string here) is valid UTF-8 as it is and is
    /// decoded by the specialised `String(decoding:as:)`; only other text goes through
    /// `String(validating:as:)`, whose generic metadata lookups per call were 3 % of the server's
    /// and of the harness's CPU in an initial sync (a million keys each way).
    static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String? {
        let text = UnsafeRawBufferPointer(rebasing: bytes[range])
        var index = 0
        // Eight bytes at a time: any byte with its high bit set ends the ASCII path.
        while index + 8 <= text.count {
            if text.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 {
                return String(validating: text, as: UTF8.self)
            }
            index += 8
        }
        while index < text.count {
            if text[index] >= 0x80 { return String(validating: text, as: UTF8.self) }
            index += 1
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Reads protobuf wire primitives from `bytes[index..<end]`; every read is bounds-checked and
    /// returns `nil` past the end or on a malformed value.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var index: Int
        let end: Int

        init(_ bytes: UnsafeRawBufferPointer, _ index: Int, _ end: Int) {
            self.bytes = bytes
            self.index = index
            self.end = end
        }

        var atEnd: Bool { index >= end }

        /// A varint of at most 10 bytes whose value fits 64 bits.
        mutating func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < end, shift < 64 {
                let byte = bytes[index]
                index += 1
                if shift == 63, byte > 1 { return nil }
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        /// A field number (1 …) and wire type.
        mutating func tag() -> (Int, Int)? {
            guard let value = varint(), value <= UInt64(UInt32.max) else { return nil }
            let field = Int(value >> 3)
            guard field > 0 else { return nil }
            return (field, Int(value & 7))
        }

        /// The range of a length-delimited value, moving past it.
        mutating func lengthDelimited() -> Range<Int>? {
            guard let length = varint(), length <= UInt64(end - index) else { return nil }
            let range = index..<(index + Int(length))
            index = range.upperBound
            return range
        }

        /// Skips a value of wire type 0, 1, 2 or 5; `false` for groups and invalid types.
        mutating func skip(wire: Int) -> Bool {
            switch wire {
            case 0: return varint() != nil
            case 1:
                guard end - index >= 8 else { return false }
                index += 8
                return true
            case 2: return lengthDelimited() != nil
            case 5:
                guard end - index >= 4 else { return false }
                index += 4
                return true
            default: return false
            }
        }
    }

    // MARK: Encoding

    /// The frame of `ack` (header, then the payload SwiftProtobuf would write: fields in number
    /// order, zero values and empty strings left out).
    static func ackFrame(_ ack: Ack, maximumPayloadBytes: Int) throws(RelayProtocolError) -> ByteBuffer {
        var size = 0
        if ack.revision != 0 { size += 1 + Self.varintSize(UInt64(bitPattern: ack.revision)) }
        var resultSizes: [Int] = []
        resultSizes.reserveCapacity(ack.results.count)
        for result in ack.results {
            let length = Self.resultSize(result)
            resultSizes.append(length)
            size += 1 + Self.varintSize(UInt64(length)) + length
        }
        guard size <= maximumPayloadBytes, let length = UInt32(exactly: size) else {
            throw .frameTooLarge(type: .ack, announcedLength: size, limit: maximumPayloadBytes)
        }
        return Self.frame(type: .ack, payloadLength: length) { writer in
            if ack.revision != 0 {
                writer.byte(1 << 3 | 0)
                writer.varint(UInt64(bitPattern: ack.revision))
            }
            for (result, length) in zip(ack.results, resultSizes) {
                writer.byte(2 << 3 | 2)
                writer.varint(UInt64(length))
                Self.writeResult(result, to: &writer)
            }
        }
    }

    /// The frame of `update`: what SwiftProtobuf would write (fields in number order, zero values
    /// and empty strings left out, every map entry with its key and value), except that labels are
    /// written in key order. Encoding UPDATEs through SwiftProtobuf (a message tree built per
    /// update, a copy of every spec, a generic visitor) was the largest single cost of the server
    /// under a stream of writes: under churn every session's difference is its own.
    static func updateFrame(_ update: Update, maximumPayloadBytes: Int) throws(RelayProtocolError) -> ByteBuffer {
        var size = 0
        if update.revision != 0 { size += 1 + Self.varintSize(UInt64(bitPattern: update.revision)) }
        if update.isSnapshot { size += 2 }
        var upsertSizes: [Int] = []
        upsertSizes.reserveCapacity(update.upserts.count)
        for resource in update.upserts {
            let length = Self.resourceSize(resource)
            upsertSizes.append(length)
            size += 1 + Self.varintSize(UInt64(length)) + length
        }
        for key in update.removals {
            let length = Self.keySize(key)
            size += 1 + Self.varintSize(UInt64(length)) + length
        }
        guard size <= maximumPayloadBytes, let length = UInt32(exactly: size) else {
            throw .frameTooLarge(type: .update, announcedLength: size, limit: maximumPayloadBytes)
        }
        return Self.frame(type: .update, payloadLength: length) { writer in
            if update.revision != 0 {
                writer.byte(1 << 3 | 0)
                writer.varint(UInt64(bitPattern: update.revision))
            }
            if update.isSnapshot {
                writer.byte(2 << 3 | 0)
                writer.byte(1)
            }
            for (resource, length) in zip(update.upserts, upsertSizes) {
                writer.byte(3 << 3 | 2)
                writer.varint(UInt64(length))
                Self.writeResource(resource, to: &writer)
            }
            for key in update.removals {
                writer.byte(4 << 3 | 2)
                Self.writeKey(key, to: &writer)
            }
        }
    }

    /// A frame of `payloadLength` bytes written by `body` straight into one buffer (the sizes were
    /// computed first, so every byte lands once, without a capacity check per byte).
    private static func frame(type: FrameType, payloadLength: UInt32, _ body: (inout Writer) -> Void) -> ByteBuffer {
        let total = RelayFrame.headerLength + Int(payloadLength)
        var buffer = ByteBufferAllocator().buffer(capacity: total)
        RelayFrame.writeHeader(type: type, flags: 0, payloadLength: payloadLength, to: &buffer)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Int(payloadLength)) { pointer in
            var writer = Writer(base: UnsafeMutableRawBufferPointer(rebasing: pointer[..<Int(payloadLength)]))
            body(&writer)
            precondition(writer.index == Int(payloadLength), "FastWireCoding: a frame's size was computed wrong")
            return writer.index
        }
        return buffer
    }

    /// Writes protobuf wire format into memory sized beforehand. Every write checks that it stays
    /// inside that memory (a size computed wrong is a bug of this file, never of the input, and
    /// stops the process rather than writing past the buffer).
    struct Writer {
        let base: UnsafeMutableRawBufferPointer
        var index = 0

        mutating func byte(_ value: UInt8) {
            precondition(index < base.count, "FastWireCoding: a frame's size was computed wrong")
            base[index] = value
            index += 1
        }

        mutating func varint(_ value: UInt64) {
            var rest = value
            while rest >= 0x80 {
                byte(UInt8(truncatingIfNeeded: rest) | 0x80)
                rest >>= 7
            }
            byte(UInt8(rest))
        }

        mutating func bytes(_ source: UnsafeRawBufferPointer) {
            guard let from = source.baseAddress, !source.isEmpty, let to = base.baseAddress else { return }
            precondition(index + source.count <= base.count, "FastWireCoding: a frame's size was computed wrong")
            (to + index).copyMemory(from: from, byteCount: source.count)
            index += source.count
        }

        /// A string field (tag of a field number below 16), left out when empty unless `always`.
        mutating func string(field: Int, _ text: String, always: Bool = false) {
            guard always || !text.isEmpty else { return }
            byte(UInt8(field << 3 | 2))
            varint(UInt64(text.utf8.count))
            var text = text
            text.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
        }
    }

    private static func resourceSize(_ resource: RelayResource) -> Int {
        let key = Self.keySize(resource.key)
        var size = 1 + Self.varintSize(UInt64(key)) + key
        if resource.version != 0 { size += 1 + Self.varintSize(UInt64(bitPattern: resource.version)) }
        if resource.generation != 0 { size += 1 + Self.varintSize(UInt64(bitPattern: resource.generation)) }
        for (name, value) in resource.labels {
            let entry = Self.stringFieldSize(name) + Self.stringFieldSize(value)
            size += 1 + Self.varintSize(UInt64(entry)) + entry
        }
        if !resource.specJSON.isEmpty { size += 1 + Self.varintSize(UInt64(resource.specJSON.count)) + resource.specJSON.count }
        if !resource.creationTimestamp.isEmpty { size += Self.stringFieldSize(resource.creationTimestamp) }
        return size
    }

    private static func writeResource(_ resource: RelayResource, to writer: inout Writer) {
        writer.byte(1 << 3 | 2)
        Self.writeKey(resource.key, to: &writer)
        if resource.version != 0 {
            writer.byte(2 << 3 | 0)
            writer.varint(UInt64(bitPattern: resource.version))
        }
        if resource.generation != 0 {
            writer.byte(3 << 3 | 0)
            writer.varint(UInt64(bitPattern: resource.generation))
        }
        if !resource.labels.isEmpty {
            for (name, value) in resource.labels.sorted(by: { $0.key < $1.key }) {
                writer.byte(4 << 3 | 2)
                writer.varint(UInt64(Self.stringFieldSize(name) + Self.stringFieldSize(value)))
                // Map entries carry both fields, empty or not.
                writer.string(field: 1, name, always: true)
                writer.string(field: 2, value, always: true)
            }
        }
        if !resource.specJSON.isEmpty {
            writer.byte(5 << 3 | 2)
            writer.varint(UInt64(resource.specJSON.count))
            resource.specJSON.withUnsafeBytes { writer.bytes($0) }
        }
        writer.string(field: 6, resource.creationTimestamp)
    }

    /// A key as a length-delimited value (its length, then its fields).
    private static func writeKey(_ key: RelayResourceKey, to writer: inout Writer) {
        writer.varint(UInt64(Self.keySize(key)))
        writer.string(field: 1, key.kind)
        writer.string(field: 2, key.namespace)
        writer.string(field: 3, key.name)
    }

    private static func resultSize(_ result: ResourceResult) -> Int {
        let key = Self.keySize(result.key)
        var size = 1 + Self.varintSize(UInt64(key)) + key
        if result.version != 0 { size += 1 + Self.varintSize(UInt64(bitPattern: result.version)) }
        if result.state.rawValue != 0 { size += 1 + Self.varintSize(UInt64(result.state.rawValue)) }
        if !result.message.isEmpty { size += Self.stringFieldSize(result.message) }
        return size
    }

    private static func writeResult(_ result: ResourceResult, to writer: inout Writer) {
        writer.byte(1 << 3 | 2)
        Self.writeKey(result.key, to: &writer)
        if result.version != 0 {
            writer.byte(2 << 3 | 0)
            writer.varint(UInt64(bitPattern: result.version))
        }
        if result.state.rawValue != 0 {
            writer.byte(3 << 3 | 0)
            writer.varint(UInt64(result.state.rawValue))
        }
        writer.string(field: 4, result.message)
    }

    private static func keySize(_ key: RelayResourceKey) -> Int {
        (key.kind.isEmpty ? 0 : Self.stringFieldSize(key.kind)) + (key.namespace.isEmpty ? 0 : Self.stringFieldSize(key.namespace))
            + (key.name.isEmpty ? 0 : Self.stringFieldSize(key.name))
    }

    private static func stringFieldSize(_ text: String) -> Int {
        let count = text.utf8.count
        return 1 + Self.varintSize(UInt64(count)) + count
    }

    static func varintSize(_ value: UInt64) -> Int {
        var size = 1
        var rest = value >> 7
        while rest != 0 {
            size += 1
            rest >>= 7
        }
        return size
    }
}
