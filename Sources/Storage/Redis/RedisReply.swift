import CHiredis
import Net

/// A decoded Redis reply (RESP2).
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    /// An error reply (the command ran and Redis refused it, e.g. NOSCRIPT).
    case error(String)

    init(_ reply: UnsafePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .string(r.len == 0 ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: r.len)))
        case REDIS_REPLY_STATUS: self = .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR: self = .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER: self = .integer(r.integer)
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements {
                if let element = r.element[i] { items.append(RedisReply(element)) } else { items.append(.null) }
            }
            self = .array(items)
        default: self = .null
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let v): return v
        case .string(let b): return Int64(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }
}

/// Why a Redis command got no reply.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not connected (refused, dropped, or backing off before the next attempt).
    case unavailable(String)
    /// No reply within the command timeout; the connection was dropped.
    case timeout

    public var description: String {
        switch self {
        case .unavailable(let m): return "redis unavailable: \(m)"
        case .timeout: return "redis timeout"
        }
    }
}

/// Where a Redis server is and how long to wait for it: `redis://[:password@]host[:port][/db]`.
public struct RedisSettings: Sendable, Equatable {
    public var host: String
    public var port: Int32
    public var password: String?
    public var database: Int
    public var connectTimeoutMilliseconds: UInt64
    public var commandTimeoutMilliseconds: UInt64

    public init(host: String = "127.0.0.1", port: Int32 = 6379, password: String? = nil, database: Int = 0,
                connectTimeoutMilliseconds: UInt64 = 1000, commandTimeoutMilliseconds: UInt64 = 250) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
    }

    /// Parses `redis://[[user]:password@]host[:port][/db]`.
    public init(url: String) throws(StoreError) {
        self.init()
        guard url.hasPrefix("redis://") else { throw .invalid("a Redis URL starts with redis://") }
        var rest = Substring(url.dropFirst("redis://".count))
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            if let colon = credentials.firstIndex(of: ":") {
                let secret = String(credentials[credentials.index(after: colon)...])
                password = secret.isEmpty ? nil : secret
            }
            rest = rest[rest.index(after: at)...]
        }
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), (0...15).contains(n) else { throw .invalid("the Redis database must be 0–15") }
                database = n
            }
            rest = rest[..<slash]
        }
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int32(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { throw .invalid("bad Redis port") }
            port = p
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .invalid("the Redis URL has no host") }
        host = String(rest)
    }
}

/// A Lua script for `RedisClient.evaluate`: its text and the SHA-1 Redis names it by.
public struct RedisScript: Sendable {
    public let text: String
    public let sha: String

    public init(_ text: String) {
        self.text = text
        sha = Digests.sha1Hex(text)
    }
}
