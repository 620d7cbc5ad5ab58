/// The handle a handler answers its request through: once with `send`, or as a stream
/// (`startStream`, `writeChunk`…, `finishStream`). Calls after the answer is complete, or
/// after the connection has closed, are ignored, so a late completion can never write into
/// another request's response.
///
/// A responder normally writes to its connection; one made with `recording(into:)` writes to
/// an `HTTPResponseRecorder` instead, so routes and pipeline stages are tested with a request
/// in and a response out and no socket (the harness in `HTTPResponseRecorder`).
public struct HTTPResponder {
    @usableFromInline let connection: HTTPConnection?
    @usableFromInline let recorder: HTTPResponseRecorder?
    @usableFromInline let generation: UInt32

    @usableFromInline init(connection: HTTPConnection, generation: UInt32) {
        self.connection = connection
        self.recorder = nil
        self.generation = generation
    }

    init(recorder: HTTPResponseRecorder) {
        self.connection = nil
        self.recorder = recorder
        self.generation = 0
    }

    /// A responder that records its answer in memory.
    public static func recording(into recorder: HTTPResponseRecorder) -> HTTPResponder {
        HTTPResponder(recorder: recorder)
    }

    /// The loop this request lives on; answer on it.
    public var loop: EventLoop { connection?.server.loop ?? recorder!.loop }

    /// Monotonic nanoseconds when the request's first byte was read.
    public var requestStartNanoseconds: UInt64 { connection?.requestStart ?? recorder!.startNanoseconds }

    /// The id echoed in the request-id header: the client's own when it sent a sane one.
    public var requestID: String {
        guard let connection else { return recorder!.requestID }
        if let echoed = connection.validClientRequestID() { return String(decoding: echoed, as: UTF8.self) }
        var b = ByteBuffer(capacity: 16)
        b.writeHex(connection.requestID, width: 16)
        return b.withReadableBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Labels this request for `HTTPHandler.responseEnded` (a route's metrics slot).
    public func setTag(_ tag: Int) {
        guard let connection else { recorder!.tag = tag; return }
        if connection.isCurrent(generation) { connection.responseTag = tag }
    }

    /// Whether the connection is still waiting for this answer.
    public var isPending: Bool {
        guard let connection else { return !recorder!.isComplete }
        return connection.isCurrent(generation)
    }

    /// Peer address, "ip:port".
    public var remoteAddress: String {
        guard let connection else { return recorder!.remoteIP + ":1" }
        return connection.server.remoteAddress(of: connection)
    }

    /// The client's IP address without the port.
    public var remoteIP: String {
        guard let connection else { return recorder!.remoteIP }
        return connection.server.remoteIP(of: connection)
    }

    public func send(status: HTTPStatus, contentType: StaticString? = nil, headers: [(String, String)] = [], body: HTTPBody = .empty) {
        guard let connection else { return recorder!.send(status: status, contentType: contentType, headers: headers, body: body) }
        connection.send(generation: generation, status: status, contentType: contentType, headers: headers, body: body)
    }

    /// Starts a streamed answer: chunked, or with `contentLength` a body of exactly that many
    /// bytes written as they come (a download), unframed.
    public func startStream(status: HTTPStatus, contentType: StaticString?, headers: [(String, String)] = [], contentLength: Int? = nil) {
        guard let connection else { return recorder!.startStream(status: status, contentType: contentType, headers: headers) }
        connection.startStream(generation: generation, status: status, contentType: contentType, headers: headers, contentLength: contentLength)
    }

    public func writeChunk(_ bytes: UnsafeRawBufferPointer) {
        guard let connection else { return recorder!.writeChunk(Array(bytes)) }
        connection.writeChunk(generation: generation, bytes)
    }

    /// Runs `body` once what this answer has written so far is all in the kernel (at once when
    /// it already is): a streamed download writes its next piece then, so a slow client slows
    /// the reading instead of the gateway queueing the file. Never runs if the connection
    /// closes first.
    public func whenDrained(_ body: @escaping () -> Void) {
        guard let connection else { return recorder!.loop.afterTurn(body) }
        connection.whenDrained(generation: generation, body)
    }

    /// Takes the request's body as a stream (only for a route whose `streamedBodyLimit` said
    /// so; see `HTTPBodySink`). Answering before `bodyEnded` refuses the rest of the body: the
    /// connection closes after that answer.
    public func readBody(into sink: any HTTPBodySink) {
        guard let connection else { return recorder!.readBody(into: sink) }
        connection.readBody(generation: generation, into: sink)
    }

    /// Closes the connection without finishing the answer (see `HTTPConnection.abort`).
    public func abort() {
        guard let connection else { return recorder!.abort() }
        connection.abort(generation: generation)
    }

    /// Continues a body its sink paused.
    public func resumeBody() {
        guard let connection else { return recorder!.resumeBody() }
        connection.resumeBody(generation: generation)
    }

    public func writeChunk(_ bytes: [UInt8]) {
        guard let connection else { return recorder!.writeChunk(bytes) }
        bytes.withUnsafeBytes { connection.writeChunk(generation: generation, $0) }
    }

    public func writeChunk(_ string: String) {
        guard let connection else { return recorder!.writeChunk(Array(string.utf8)) }
        var s = string
        s.withUTF8 { connection.writeChunk(generation: generation, UnsafeRawBufferPointer($0)) }
    }

    public func finishStream() {
        guard let connection else { return recorder!.finishStream() }
        connection.finishStream(generation: generation)
    }
}
