import CCurl

/// One HTTP call to an upstream: what to send, and how long each phase may take.
///
/// The timeouts are separate because they fail differently: a connect that does not finish
/// means the host is down (try the next target at once); silence before the first byte means
/// the upstream is overloaded (also worth another target); silence between two chunks of a
/// stream is a stall the client would otherwise wait on forever; the total bounds the whole.
public struct UpstreamRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)]
    /// Header fields made once and sent with many calls (a target's constant ones), before
    /// `headers`.
    public var sharedHeaders: UpstreamHeaderList?
    public var body: [UInt8]
    public var connectTimeoutMs: UInt64 = 10_000
    public var firstByteTimeoutMs: UInt64 = 30_000
    public var idleTimeoutMs: UInt64 = 60_000
    public var totalTimeoutMs: UInt64 = 600_000

    public init(method: String = "POST", url: String, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// The status line and header fields of an upstream's answer (the final one: 1xx interim
/// answers are skipped). Names keep the upstream's spelling; `value(_:)` ignores case.
public struct UpstreamHead: Sendable {
    public let status: Int
    public let headers: [(String, String)]

    public init(status: Int, headers: [(String, String)]) {
        self.status = status
        self.headers = headers
    }

    /// The first field named `name`, compared without regard to ASCII case (and without
    /// building lowercase copies of every name on the way).
    public func value(_ name: String) -> String? {
        for (n, v) in headers where UpstreamHead.equalIgnoringASCIICase(n, name) { return v }
        return nil
    }

    static func equalIgnoringASCIICase(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            let lower = x | 0x20
            guard lower == y | 0x20, lower >= 0x61, lower <= 0x7A else { return false }
        }
        return true
    }
}

/// Why a call ended without a complete answer.
public enum UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Name resolution, TCP or TLS failed: nothing was sent.
    case connect(String)
    /// Connected, but no byte of an answer came within the first-byte timeout.
    case firstByteTimeout
    /// A started answer stalled longer than the idle timeout.
    case idleTimeout
    /// The whole call took longer than its total timeout.
    case totalTimeout
    /// The connection broke or the answer was malformed.
    case transfer(String)
    /// The caller cancelled it.
    case cancelled

    public var description: String {
        switch self {
        case .connect(let m): return "cannot connect: \(m)"
        case .firstByteTimeout: return "no answer before the first-byte timeout"
        case .idleTimeout: return "the answer stalled past the idle timeout"
        case .totalTimeout: return "the call exceeded its total timeout"
        case .transfer(let m): return "transfer failed: \(m)"
        case .cancelled: return "cancelled"
        }
    }
}

/// Header fields as libcurl keeps them (a `curl_slist`), built once and shared by every call
/// that sends them: a target's content type, accept and authorization do not change per call,
/// and building the list per call was five allocations and copies. Immutable once made; a
/// call holds it until libcurl is done with it.
public final class UpstreamHeaderList: @unchecked Sendable {
    // @unchecked: never mutated after init; libcurl only reads it.
    let list: UnsafeMutablePointer<curl_slist>?
    let fields: [(String, String)]

    public init(_ fields: [(String, String)]) {
        self.fields = fields
        // No "Expect: 100-continue" (libcurl adds it to large bodies and then waits up to a
        // second for an interim answer many servers never send).
        var list = curl_slist_append(nil, "Expect:")
        for (name, value) in fields { list = curl_slist_append(list, name + ": " + value) }
        self.list = list
    }

    deinit { curl_slist_free_all(list) }
}
