import CHTTPParser

/// The client side of the HTTP/1 codec: finds response boundaries (Content-Length, chunked,
/// or no body for HEAD/204/304) and reports each response's status, with no copies of headers
/// or bodies. Used by the load generator, where parsing must cost less than the server's.
public final class HTTPResponseParser {
    let parser: UnsafeMutablePointer<http_parser>
    /// Called once per complete response with its status code.
    public var onResponse: (Int) -> Void = { _ in }
    /// Whether the next response answers a HEAD request (no body follows its headers).
    public var expectHeadResponse = false
    var status = 0

    public init() {
        parser = .allocate(capacity: 1)
        http_parser_init(parser, HTTP_RESPONSE)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit { parser.deallocate() }

    /// Starts over (a new connection).
    public func reset() {
        http_parser_init(parser, HTTP_RESPONSE)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    /// Feeds bytes; returns false on a malformed response (the connection must be closed).
    @inlinable
    public func feed(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        execute(bytes, count)
    }

    @usableFromInline
    func execute(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        let consumed = http_parser_execute(parser, &HTTPResponseParser.settings, bytes.assumingMemoryBound(to: CChar.self), count)
        return consumed == count && chttp_errno(parser) == HPE_OK
    }

    /// Whether the server asked to close after the last response.
    public var shouldKeepAlive: Bool { http_should_keep_alive(parser) != 0 }

    // `var` only because http_parser_execute takes a pointer; never mutated after this.
    nonisolated(unsafe) static var settings: http_parser_settings = {
        var s = http_parser_settings()
        s.on_headers_complete = { p in
            let me = Unmanaged<HTTPResponseParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
            me.status = Int(p!.pointee.status_code)
            // 1: this response has no body (a HEAD request's answer).
            return me.expectHeadResponse ? 1 : 0
        }
        s.on_message_complete = { p in
            let me = Unmanaged<HTTPResponseParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
            me.onResponse(me.status)
            return 0
        }
        return s
    }()
}
