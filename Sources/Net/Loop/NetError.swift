import CUV

/// A failure of the socket layer, with libuv's error name so a log line says what happened.
public enum NetError: Error, CustomStringConvertible, Sendable {
    case uv(String, Int32)
    case invalidAddress(String)
    case tls(String)

    public var description: String {
        switch self {
        case .uv(let call, let code):
            return "\(call): \(String(cString: uv_strerror(code))) (\(String(cString: uv_err_name(code))))"
        case .invalidAddress(let address):
            return "invalid address: \(address)"
        case .tls(let message):
            return "TLS: \(message)"
        }
    }
}
