/// A TLS setup failure (certificate, key, profile), with OpenSSL's own reason.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
