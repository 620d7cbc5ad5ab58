/// A response kept in memory: the socket-free test harness for anything that answers through
/// an `HTTPResponder` (a router, a pipeline stage, a whole feature).
///
/// `HTTPResponseRecorder.exchange` parses a request with the server's own codec (same limits,
/// same strictness), hands it to a handler with a recording responder, and runs the loop on the
/// calling thread until the answer is complete, so asynchronous steps (a Store call, a
/// limiter decision) finish as they would on a server. The handler's `responseEnded` is called
/// as the connection would call it.
public final class HTTPResponseRecorder: @unchecked Sendable {
    // @unchecked: used on one loop, which the test runs on its own thread.

    public let loop: EventLoop
    /// What `remoteIP` reports (a test of per-address behaviour sets several).
    public var remoteIP: String
    public let requestID = "test-request"
    let startNanoseconds = EventLoop.monotonicNanoseconds
    var tag = 0

    public private(set) var status: HTTPStatus?
    public private(set) var contentType: String?
    public private(set) var headers: [(name: String, value: String)] = []
    public private(set) var body: [UInt8] = []
    /// Each `writeChunk` of a streamed answer, in order.
    public private(set) var chunks: [[UInt8]] = []
    public private(set) var isStreaming = false
    public private(set) var isComplete = false
    /// Set before handing the request over, so the end is reported like a connection does.
    var onEnd: ((HTTPResponseRecorder) -> Void)?

    public init(loop: EventLoop, remoteIP: String = "127.0.0.1") {
        self.loop = loop
        self.remoteIP = remoteIP
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The first header of that name (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name.lowercased() == lower }?.value
    }

    func send(status: HTTPStatus, contentType: StaticString?, headers: [(String, String)], body: HTTPBody) {
        guard !isComplete, !isStreaming else { return }
        record(status, contentType, headers)
        switch body {
        case .empty: break
        case .staticString(let s): self.body = Array(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        case .bytes(let b): self.body = b
        case .string(let s): self.body = Array(s.utf8)
        }
        complete()
    }

    func startStream(status: HTTPStatus, contentType: StaticString?, headers: [(String, String)]) {
        guard !isComplete, !isStreaming else { return }
        record(status, contentType, headers)
        isStreaming = true
    }

    func writeChunk(_ bytes: [UInt8]) {
        guard isStreaming, !isComplete, !bytes.isEmpty else { return }
        chunks.append(bytes)
        body += bytes
    }

    func finishStream() {
        guard isStreaming, !isComplete else { return }
        isStreaming = false
        complete()
    }

    private func record(_ status: HTTPStatus, _ contentType: StaticString?, _ headers: [(String, String)]) {
        self.status = status
        self.contentType = contentType.map { String(describing: $0) }
        // The connection drops unsafe header lines; so does the recording.
        self.headers = headers.filter { HTTPConnection.isSafeHeader($0.0, $0.1) }.map { (name: $0.0, value: $0.1) }
    }

    /// The request's body, for a handler that reads it as a stream (`readBody`).
    var requestBody: [UInt8] = []
    var bodySink: (any HTTPBodySink)?
    var bodyOffset = 0
    /// Pieces a streamed body is handed over in, as a socket would split it.
    public var bodyPieceBytes = 64 * 1024

    func readBody(into sink: any HTTPBodySink) {
        guard bodySink == nil, !isComplete else { return }
        bodySink = sink
        deliverBody()
    }

    func resumeBody() { deliverBody() }

    /// Whether the handler cut its answer (`HTTPResponder.abort`).
    public private(set) var aborted = false

    func abort() {
        guard !isComplete else { return }
        aborted = true
        complete()
    }

    private func deliverBody() {
        guard let sink = bodySink else { return }
        while bodyOffset < requestBody.count {
            let n = min(bodyPieceBytes, requestBody.count - bodyOffset)
            let more = requestBody.withUnsafeBytes { sink.bodyBytes(UnsafeRawBufferPointer(rebasing: $0[bodyOffset..<bodyOffset + n])) }
            bodyOffset += n
            if !more { return }
        }
        bodySink = nil
        sink.bodyEnded()
    }

    private func complete() {
        if let sink = bodySink {
            bodySink = nil
            sink.bodyFailed(nil)
        }
        isComplete = true
        onEnd?(self)
        onEnd = nil
    }

    /// Parses `raw` (one whole request) with the server's codec and lets `handler` answer it;
    /// runs `loop` on this thread until the answer is complete or `timeoutMilliseconds` pass.
    /// A request the codec refuses comes back as that error.
    public static func exchange(_ raw: String, handler: any HTTPHandler, loop: EventLoop,
                                configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                                remoteIP: String = "127.0.0.1",
                                timeoutMilliseconds: UInt64 = 10_000) throws(HTTPParseError) -> HTTPResponseRecorder {
        let codec = HTTPRequestParser(limits: configuration.limits, requestIDHeader: configuration.requestIDHeader)
        let bytes = Array(raw.utf8)
        let outcome = bytes.withUnsafeBytes { codec.parse($0.baseAddress!, count: $0.count) }
        switch outcome {
        case .request: break
        case .error(let error): throw error
        case .head, .bodyPaused: throw HTTPParseError(.internalServerError, "the recording codec buffers bodies")
        case .needMoreData: throw HTTPParseError(.badRequest, "the request is incomplete")
        }
        let recorder = HTTPResponseRecorder(loop: loop, remoteIP: remoteIP)
        recorder.requestBody = codec.body.readableBytesArray()
        let request = HTTPRequest(codec: codec)
        recorder.onEnd = { recorder in
            handler.responseEnded(HTTPResponseEnd(
                source: .recorded(request, .recording(into: recorder)), loopIndex: loop.index, status: recorder.status?.rawValue ?? 0,
                tag: recorder.tag, completed: true, nanoseconds: EventLoop.monotonicNanoseconds &- recorder.startNanoseconds))
        }
        loop.runOnCallingThread(timeoutMilliseconds: timeoutMilliseconds, until: { recorder.isComplete }) {
            handler.handle(request, .recording(into: recorder))
        }
        return recorder
    }
}
