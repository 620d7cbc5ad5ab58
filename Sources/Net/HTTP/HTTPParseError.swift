/// Why a request could not be parsed, and the status the server answers before it closes the
/// connection. Every parse error closes: after one, the framing of what follows is unknowable.
public struct HTTPParseError: Error, Sendable, CustomStringConvertible {
    public let status: HTTPStatus
    public let reason: StaticString

    @inlinable public init(_ status: HTTPStatus, _ reason: StaticString) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status.rawValue) \(reason)" }

    static let headersTooLarge = HTTPParseError(.requestHeaderFieldsTooLarge, "the request line and headers exceed the server's limit")
    static let uriTooLong = HTTPParseError(.uriTooLong, "the request target exceeds the server's limit")
    static let bodyTooLarge = HTTPParseError(.payloadTooLarge, "the request body exceeds the server's limit")
    static let bothLengthAndEncoding = HTTPParseError(.badRequest, "a request may not carry both Content-Length and Transfer-Encoding")
    static let duplicateLength = HTTPParseError(.badRequest, "more than one Content-Length")
    static let invalidLength = HTTPParseError(.badRequest, "invalid Content-Length")
    static let chunkedNotFinal = HTTPParseError(.badRequest, "Transfer-Encoding must end with chunked")
    static let unknownCoding = HTTPParseError(.notImplemented, "unsupported transfer coding")
    static let encodingOnHTTP10 = HTTPParseError(.badRequest, "Transfer-Encoding is not allowed in HTTP/1.0")
    static let missingHost = HTTPParseError(.badRequest, "an HTTP/1.1 request needs exactly one Host header")
    static let invalidHost = HTTPParseError(.badRequest, "invalid Host header")
    static let versionNotSupported = HTTPParseError(.httpVersionNotSupported, "only HTTP/1.0 and HTTP/1.1 are served")
    static let connectNotAllowed = HTTPParseError(.methodNotAllowed, "CONNECT is not served")
    static let expectationFailed = HTTPParseError(.expectationFailed, "only the 100-continue expectation is supported")
    static let tooManyHeaders = HTTPParseError(.requestHeaderFieldsTooLarge, "too many header fields")
    static let invalidTarget = HTTPParseError(.badRequest, "invalid request target")
}
