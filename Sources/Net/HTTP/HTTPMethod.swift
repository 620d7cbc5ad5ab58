import CHTTPParser

/// A request method, as http_parser numbers it (`enum http_method`), so the parser's result
/// needs no string comparison.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let delete = HTTPMethod(rawValue: UInt8(HTTP_DELETE.rawValue))
    public static let get = HTTPMethod(rawValue: UInt8(HTTP_GET.rawValue))
    public static let head = HTTPMethod(rawValue: UInt8(HTTP_HEAD.rawValue))
    public static let post = HTTPMethod(rawValue: UInt8(HTTP_POST.rawValue))
    public static let put = HTTPMethod(rawValue: UInt8(HTTP_PUT.rawValue))
    public static let connect = HTTPMethod(rawValue: UInt8(HTTP_CONNECT.rawValue))
    public static let options = HTTPMethod(rawValue: UInt8(HTTP_OPTIONS.rawValue))
    public static let trace = HTTPMethod(rawValue: UInt8(HTTP_TRACE.rawValue))
    public static let patch = HTTPMethod(rawValue: UInt8(HTTP_PATCH.rawValue))

    public var description: String {
        String(cString: http_method_str(http_method(rawValue: UInt32(rawValue))))
    }
}
