/// A request as a handler sees it: a view into the connection's codec, valid until the
/// handler's response is complete (the connection parses nothing further before that).
///
/// Strings are built only when asked for, so a route that needs only the method and path costs
/// no allocation.
public struct HTTPRequest {
    let codec: HTTPRequestParser

    init(codec: HTTPRequestParser) { self.codec = codec }

    public var method: HTTPMethod { codec.method }
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var versionMinor: UInt16 { codec.versionMinor }
    public var keepAlive: Bool { codec.keepAlive }

    /// The raw (still percent-encoded) path bytes.
    public func withRawPath<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try codec.head.withBytes(at: codec.pathStart, count: codec.pathEnd - codec.pathStart, body)
    }

    /// The raw path as a string, e.g. "/v1/documents/a%20b".
    public var rawPath: String {
        withRawPath { String(decoding: $0, as: UTF8.self) }
    }

    /// The whole request target as received.
    public var target: String {
        codec.head.withBytes(at: 0, count: codec.targetLength) { String(decoding: $0, as: UTF8.self) }
    }

    /// The raw query string without "?", or nil when the target has none.
    public var rawQuery: String? {
        guard codec.queryStart >= 0 else { return nil }
        return codec.head.withBytes(at: codec.queryStart, count: codec.queryEnd - codec.queryStart) {
            String(decoding: $0, as: UTF8.self)
        }
    }

    /// Decoded query parameters in order; a malformed pair is skipped.
    public var queryItems: [(name: String, value: String)] {
        guard codec.queryStart >= 0 else { return [] }
        return codec.head.withBytes(at: codec.queryStart, count: codec.queryEnd - codec.queryStart) { q in
            var items: [(String, String)] = []
            for pair in q.split(separator: 0x26, omittingEmptySubsequences: true) {
                let parts = pair.split(separator: 0x3D, maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = PercentDecoding.decode(UnsafeRawBufferPointer(rebasing: parts[0]), plusAsSpace: true) else { continue }
                var value = ""
                if parts.count > 1 {
                    guard let v = PercentDecoding.decode(UnsafeRawBufferPointer(rebasing: parts[1]), plusAsSpace: true) else { continue }
                    value = v
                }
                items.append((name, value))
            }
            return items
        }
    }

    /// The first value of a query parameter.
    public func query(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }

    public var headerCount: Int { codec.slots.count }

    /// Calls `body` with the value of each field named `wanted` (ASCII, case-insensitive), in
    /// order, until it returns false. The one name match every header lookup goes through.
    @inline(__always)
    func forEachValue(named wanted: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
        let base = codec.head.readablePointer
        for s in codec.slots where Int(s.nameLength) == wanted.count {
            var same = true
            for i in 0..<wanted.count where HTTPRequestParser.lower(base.load(fromByteOffset: Int(s.nameStart) + i, as: UInt8.self)) != HTTPRequestParser.lower(wanted[i]) {
                same = false
                break
            }
            if same && !body(UnsafeRawBufferPointer(start: base + Int(s.valueStart), count: Int(s.valueLength))) { return }
        }
    }

    /// The value of the first header field named `name` (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        var name = name
        var found: String?
        name.withUTF8 { wanted in
            forEachValue(named: UnsafeRawBufferPointer(wanted)) { value in
                found = String(decoding: value, as: UTF8.self)
                return false
            }
        }
        return found
    }

    /// The values of every header field named `name` (case-insensitive), in order: for
    /// list-valued fields a client or proxy may have split over several lines.
    public func headerValues(_ name: String) -> [String] {
        var name = name
        var values: [String] = []
        name.withUTF8 { wanted in
            forEachValue(named: UnsafeRawBufferPointer(wanted)) { value in
                values.append(String(decoding: value, as: UTF8.self))
                return true
            }
        }
        return values
    }

    /// The raw bytes of the first header field named `name`, without a String copy: the hot
    /// path's way to read Authorization.
    public func withHeaderValue<R>(_ name: StaticString, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        var found: UnsafeRawBufferPointer?
        forEachValue(named: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)) { value in
            found = value
            return false
        }
        return try body(found)
    }

    /// Every header field in order, as received.
    public var headers: [(name: String, value: String)] {
        let base = codec.head.readablePointer
        return codec.slots.map { s in
            (String(decoding: UnsafeRawBufferPointer(start: base + Int(s.nameStart), count: Int(s.nameLength)), as: UTF8.self),
             String(decoding: UnsafeRawBufferPointer(start: base + Int(s.valueStart), count: Int(s.valueLength)), as: UTF8.self))
        }
    }

    /// The X-Request-Id value the client sent, as raw bytes, when it sent one.
    public func withRequestIDHeader<R>(_ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let i = codec.requestIdSlot
        guard i >= 0 else { return try body(nil) }
        let s = codec.slots[i]
        return try codec.head.withBytes(at: Int(s.valueStart), count: Int(s.valueLength)) { try body($0) }
    }

    /// The body bytes (decoded from chunked framing when it was chunked).
    public func withBody<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try codec.body.withReadableBytes(body)
    }

    public var bodyCount: Int { codec.body.readableBytes }

    /// The body streams to a sink (`HTTPResponder.readBody`) instead of waiting here.
    public var streamsBody: Bool { codec.streamsBody }

    /// A copy of the body.
    public var bodyBytes: [UInt8] { codec.body.readableBytesArray() }
}
