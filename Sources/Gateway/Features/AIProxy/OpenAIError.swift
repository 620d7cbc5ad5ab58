import Net

/// OpenAI's error shape, `{"error": {"message", "type", "param", "code"}}`: the `openai` client
/// picks its exception class from the status (400 BadRequestError … 429 RateLimitError, ≥ 500
/// InternalServerError) and fills `.type`, `.param` and `.code` from the body.
struct OpenAIError: ErrorResponse, Sendable {
    let status: HTTPStatus
    let message: String
    let type: String
    let param: String?
    let code: String?
    let headers: [(String, String)]

    init(_ status: HTTPStatus, _ message: String, type: String, param: String? = nil, code: String? = nil, headers: [(String, String)] = []) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers
    }

    /// The pipeline's errors (authentication, limits, body limits, routing) in OpenAI's shape.
    init(_ error: GatewayError) {
        let type: String
        var code: String? = error.type
        switch error.status.rawValue {
        case 401:
            type = "invalid_request_error"
            code = "invalid_api_key"
        case 403: type = "permission_error"
        case 429:
            type = "requests"
            code = "rate_limit_exceeded"
        case 500...: type = "server_error"
        default: type = "invalid_request_error"
        }
        // OpenAI answers body problems with 400; our pipeline's 422 means the same here.
        let status: HTTPStatus = error.status.rawValue == 422 ? .badRequest : error.status
        self.init(status, error.message, type: type, code: code, headers: error.headers)
    }

    static func invalid(_ message: String, param: String? = nil) -> OpenAIError {
        OpenAIError(.badRequest, message, type: "invalid_request_error", param: param, code: nil)
    }

    static func modelNotFound(_ model: String) -> OpenAIError {
        OpenAIError(.notFound, "The model `\(model.prefix(256))` does not exist or you do not have access to it.",
                    type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    func body() -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"error\":{\"message\":"); w.string(message)
        w.raw(",\"type\":"); w.string(type)
        w.raw(",\"param\":")
        if let param { w.string(param) } else { w.raw("null") }
        w.raw(",\"code\":")
        if let code { w.string(code) } else { w.raw("null") }
        w.raw("}}\n")
        return w.bytes
    }

    /// The same error as the last event of a stream that has already begun.
    func streamEvent() -> [UInt8] {
        var bytes: [UInt8] = Array("data: ".utf8)
        var b = body()
        b.removeLast() // the newline
        bytes += b
        bytes += Array("\n\n".utf8)
        return bytes
    }
}
