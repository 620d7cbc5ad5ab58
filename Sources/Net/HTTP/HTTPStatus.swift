/// A response status code with its reason phrase, kept as a number so the hot path never
/// builds a string for it.
public struct HTTPStatus: RawRepresentable, Hashable, Sendable {
    public let rawValue: Int
    @inlinable public init(rawValue: Int) { self.rawValue = rawValue }
    @inlinable public init(_ code: Int) { self.rawValue = code }

    public static let `continue` = HTTPStatus(100)
    public static let ok = HTTPStatus(200)
    public static let created = HTTPStatus(201)
    public static let accepted = HTTPStatus(202)
    public static let noContent = HTTPStatus(204)
    public static let partialContent = HTTPStatus(206)
    public static let notModified = HTTPStatus(304)
    public static let permanentRedirect = HTTPStatus(308)
    public static let badRequest = HTTPStatus(400)
    public static let unauthorized = HTTPStatus(401)
    public static let forbidden = HTTPStatus(403)
    public static let notFound = HTTPStatus(404)
    public static let methodNotAllowed = HTTPStatus(405)
    public static let requestTimeout = HTTPStatus(408)
    public static let conflict = HTTPStatus(409)
    public static let lengthRequired = HTTPStatus(411)
    public static let preconditionFailed = HTTPStatus(412)
    public static let payloadTooLarge = HTTPStatus(413)
    public static let uriTooLong = HTTPStatus(414)
    public static let unsupportedMediaType = HTTPStatus(415)
    public static let expectationFailed = HTTPStatus(417)
    public static let rangeNotSatisfiable = HTTPStatus(416)
    public static let unprocessableContent = HTTPStatus(422)
    public static let preconditionRequired = HTTPStatus(428)
    public static let tooManyRequests = HTTPStatus(429)
    public static let requestHeaderFieldsTooLarge = HTTPStatus(431)
    public static let internalServerError = HTTPStatus(500)
    public static let notImplemented = HTTPStatus(501)
    public static let badGateway = HTTPStatus(502)
    public static let serviceUnavailable = HTTPStatus(503)
    public static let gatewayTimeout = HTTPStatus(504)
    public static let httpVersionNotSupported = HTTPStatus(505)

    /// The status line, "HTTP/1.1 200 OK\r\n", as a static string for the codes the gateway uses.
    @usableFromInline var statusLine: StaticString? {
        switch rawValue {
        case 200: return "HTTP/1.1 200 OK\r\n"
        case 201: return "HTTP/1.1 201 Created\r\n"
        case 202: return "HTTP/1.1 202 Accepted\r\n"
        case 204: return "HTTP/1.1 204 No Content\r\n"
        case 206: return "HTTP/1.1 206 Partial Content\r\n"
        case 304: return "HTTP/1.1 304 Not Modified\r\n"
        case 308: return "HTTP/1.1 308 Permanent Redirect\r\n"
        case 400: return "HTTP/1.1 400 Bad Request\r\n"
        case 401: return "HTTP/1.1 401 Unauthorized\r\n"
        case 403: return "HTTP/1.1 403 Forbidden\r\n"
        case 404: return "HTTP/1.1 404 Not Found\r\n"
        case 405: return "HTTP/1.1 405 Method Not Allowed\r\n"
        case 408: return "HTTP/1.1 408 Request Timeout\r\n"
        case 409: return "HTTP/1.1 409 Conflict\r\n"
        case 411: return "HTTP/1.1 411 Length Required\r\n"
        case 412: return "HTTP/1.1 412 Precondition Failed\r\n"
        case 413: return "HTTP/1.1 413 Content Too Large\r\n"
        case 414: return "HTTP/1.1 414 URI Too Long\r\n"
        case 415: return "HTTP/1.1 415 Unsupported Media Type\r\n"
        case 416: return "HTTP/1.1 416 Range Not Satisfiable\r\n"
        case 417: return "HTTP/1.1 417 Expectation Failed\r\n"
        case 422: return "HTTP/1.1 422 Unprocessable Content\r\n"
        case 428: return "HTTP/1.1 428 Precondition Required\r\n"
        case 429: return "HTTP/1.1 429 Too Many Requests\r\n"
        case 431: return "HTTP/1.1 431 Request Header Fields Too Large\r\n"
        case 500: return "HTTP/1.1 500 Internal Server Error\r\n"
        case 501: return "HTTP/1.1 501 Not Implemented\r\n"
        case 502: return "HTTP/1.1 502 Bad Gateway\r\n"
        case 503: return "HTTP/1.1 503 Service Unavailable\r\n"
        case 504: return "HTTP/1.1 504 Gateway Timeout\r\n"
        case 505: return "HTTP/1.1 505 HTTP Version Not Supported\r\n"
        default: return nil
        }
    }

    /// Whether a response with this status may carry a body (RFC 9110 §6.4.1).
    @inlinable public var allowsBody: Bool {
        !(rawValue < 200 || rawValue == 204 || rawValue == 304)
    }
}
