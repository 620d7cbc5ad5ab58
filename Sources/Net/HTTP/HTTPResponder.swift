/// The handle a handler answers its request through: once with `send`, or as a stream
/// (`startStream`, `writeChunk`…, `finishStream`). Calls after the answer is complete, or
/// after the connection has closed, are ignored, so a late completion can never write into
/// another request's response.
public struct HTTPResponder {
    @usableFromInline let connection: HTTPConnection
    @usableFromInline let generation: UInt32

    @usableFromInline init(connection: HTTPConnection, generation: UInt32) {
        self.connection = connection
        self.generation = generation
    }

    /// The loop this request lives on; answer on it.
    public var loop: EventLoop { connection.server.loop }

    /// Monotonic nanoseconds when the request's first byte was read.
    public var requestStartNanoseconds: UInt64 { connection.requestStart }

    /// The id echoed in X-Request-Id: the client's own when it sent a sane one.
    public var requestID: String {
        if let echoed = connection.validClientRequestID() { return String(decoding: echoed, as: UTF8.self) }
        var b = ByteBuffer(capacity: 16)
        b.writeHex(connection.requestID, width: 16)
        return b.withReadableBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether the connection is still waiting for this answer.
    public var isPending: Bool { connection.isCurrent(generation) }

    /// Peer address, "ip:port".
    public var remoteAddress: String { connection.server.remoteAddress(of: connection) }

    /// The client's IP address without the port.
    public var remoteIP: String { connection.server.remoteIP(of: connection) }

    public func send(status: HTTPStatus, contentType: StaticString? = nil, headers: [(String, String)] = [], body: HTTPBody = .empty) {
        connection.send(generation: generation, status: status, contentType: contentType, headers: headers, body: body)
    }

    public func startStream(status: HTTPStatus, contentType: StaticString?, headers: [(String, String)] = []) {
        connection.startStream(generation: generation, status: status, contentType: contentType, headers: headers)
    }

    public func writeChunk(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { connection.writeChunk(generation: generation, $0) }
    }

    public func writeChunk(_ string: String) {
        var s = string
        s.withUTF8 { connection.writeChunk(generation: generation, UnsafeRawBufferPointer($0)) }
    }

    public func finishStream() {
        connection.finishStream(generation: generation)
    }
}
