/// Receives a request body as it arrives, for routes that must never hold one whole (file
/// uploads of hundreds of megabytes). A route asks for this through
/// `HTTPHandler.streamedBodyLimit`; its handler is called when the head is complete and attaches
/// a sink with `HTTPResponder.readBody(into:)` once it has decided to take the body (after
/// authentication, say): until then the body stays unread in the socket, and a client that sent
/// `Expect: 100-continue` is told to go on only then.
///
/// Flow control is the return value: `false` stops reading the socket until
/// `HTTPResponder.resumeBody()`, so a slow disk or database slows the client instead of filling
/// memory. Every call comes on the request's loop.
public protocol HTTPBodySink: AnyObject {
    /// The next bytes of the decoded body (chunked framing removed), valid only during the call.
    /// Returns whether more may follow now.
    func bodyBytes(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// The body is complete: every byte has been handed to `bodyBytes`.
    func bodyEnded()
    /// The body will not complete: malformed framing, over the route's limit (`error` says
    /// which, and the server answers it), a timeout or the client gone (`error` nil). The
    /// request's responder is no longer current: whatever the sink kept is to be dropped.
    func bodyFailed(_ error: HTTPParseError?)
}
