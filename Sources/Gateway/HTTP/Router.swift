import Net

/// Method + path routing with `:name` parameters, matched on the raw path bytes segment by
/// segment: a static route costs no allocation, and an encoded slash (%2F) stays inside its
/// segment. HEAD falls back to GET.
public final class Router: Sendable {
    public enum Match {
        case found(Route, [(String, String)])
        /// The path exists for other methods: answer 405 with this `Allow` value.
        case methodNotAllowed(String)
        /// No route has this path.
        case notFound
        /// A parameter segment is not valid percent-encoded UTF-8.
        case badPath
    }

    final class Node: @unchecked Sendable {
        // @unchecked: built by RouterBuilder before the server starts, read-only afterwards.
        var statics: [(segment: [UInt8], node: Node)] = []
        var parameter: (name: String, node: Node)?
        var routes: [(method: HTTPMethod, route: Route)] = []
    }

    let root: Node
    /// Every route, in registration order; a route's `index` is its position here.
    public let routes: [Route]
    let errorShapes: [(prefix: [UInt8], shape: ErrorShape)]
    /// What answers a GET or HEAD no route claims, outside the API surfaces (static assets).
    public let fallback: Route?

    init(root: Node, routes: [Route], errorShapes: [(prefix: [UInt8], shape: ErrorShape)] = [], fallback: Route? = nil) {
        self.root = root
        self.routes = routes
        self.errorShapes = errorShapes
        self.fallback = fallback
    }

    /// The fallback route for an unmatched request, if it may take it: GET or HEAD, and a path
    /// outside `/v1/` and `/api/` (an API typo stays that API's 404).
    public func fallback(for method: HTTPMethod, rawPath: UnsafeRawBufferPointer) -> Route? {
        guard let fallback, method == .get || method == .head else { return nil }
        for prefix in ["/v1/", "/api/"] where rawPath.starts(with: prefix.utf8) { return nil }
        return fallback
    }

    /// The error shape of the API surface a path belongs to, for answers no route gives
    /// (404, 405, a bad path): a Chroma client gets Chroma's shape even for a typo.
    public func errorShape(forRawPath rawPath: UnsafeRawBufferPointer) -> ErrorShape? {
        for (prefix, shape) in errorShapes where rawPath.count >= prefix.count {
            if prefix.withUnsafeBytes({ Router.memcmpEqual($0, UnsafeRawBufferPointer(rebasing: rawPath[0..<prefix.count])) }) {
                return shape
            }
        }
        return nil
    }

    public func match(_ method: HTTPMethod, rawPath: UnsafeRawBufferPointer) -> Match {
        var node = root
        var parameters: [(String, String)] = []
        guard rawPath.count > 0, rawPath[0] == 0x2F else { return .notFound }
        var i = 1
        let n = rawPath.count
        // "/" alone is the root; otherwise walk one segment per "/".
        if n > 1 {
            while true {
                var j = i
                while j < n && rawPath[j] != 0x2F { j += 1 }
                let segment = UnsafeRawBufferPointer(rebasing: rawPath[i..<j])
                if let next = Router.staticChild(node, segment) {
                    node = next
                } else if let (name, next) = node.parameter, segment.count > 0 {
                    guard let value = PercentDecoding.decode(segment) else { return .badPath }
                    parameters.append((name, value))
                    node = next
                } else {
                    return .notFound
                }
                if j >= n { break }
                i = j + 1
            }
        }
        if node.routes.isEmpty { return .notFound }
        for (m, route) in node.routes where m == method { return .found(route, parameters) }
        if method == .head {
            for (m, route) in node.routes where m == .get { return .found(route, parameters) }
        }
        var allowed = node.routes.map { $0.method.description }
        if allowed.contains("GET") { allowed.append("HEAD") }
        return .methodNotAllowed(allowed.joined(separator: ", "))
    }

    @inline(__always)
    static func staticChild(_ node: Node, _ segment: UnsafeRawBufferPointer) -> Node? {
        for (s, child) in node.statics where s.count == segment.count {
            if s.withUnsafeBytes({ memcmpEqual($0, segment) }) { return child }
        }
        return nil
    }

    @inline(__always)
    static func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        for k in 0..<a.count where a[k] != b[k] { return false }
        return true
    }
}

/// One registered route: its pattern (the metrics label), what it needs (`access`), the
/// pipeline stages composed from that, and its handler.
public final class Route: Sendable {
    public let index: Int
    public let method: HTTPMethod
    public let pattern: String
    public let access: RouteAccess
    public let stages: [any RequestStage]
    public let handler: RouteHandler
    /// How this route's errors look, stages' included (nil: ours).
    public let errorShape: ErrorShape?
    /// The most bytes of body this route reads as a stream (`HTTPBodySink`); nil: the body is
    /// buffered whole before the pipeline runs, within the server's `max-body-bytes`.
    public let streamedBodyLimit: Int?

    init(index: Int, method: HTTPMethod, pattern: String, access: RouteAccess, stages: [any RequestStage],
         errorShape: ErrorShape? = nil, streamedBodyLimit: Int? = nil, handler: @escaping RouteHandler) {
        self.errorShape = errorShape
        self.streamedBodyLimit = streamedBodyLimit
        self.index = index
        self.method = method
        self.pattern = pattern
        self.access = access
        self.stages = stages
        self.handler = handler
    }

    /// Runs the pipeline: each stage in order, then the handler.
    @inline(__always)
    public func start(_ context: consuming RequestContext) {
        RequestStageNext(route: self, index: 0)(context)
    }
}

/// A route's handler: answers through `context`, now or later on the same loop.
public typealias RouteHandler = @Sendable (RequestContext) -> Void

/// Turns the pipeline's errors (`GatewayError`: authentication, limits, routing) into an API
/// surface's own error shape (Chroma's `{"error", "message"}` on `/api/v2`).
public typealias ErrorShape = @Sendable (GatewayError) -> any ErrorResponse

/// Collects routes before the server starts, composing each one's pipeline from its access.
public final class RouterBuilder {
    var routes: [Route] = []
    let root = Router.Node()
    let stages: (RouteAccess) -> [any RequestStage]
    var errorShapes: [(prefix: [UInt8], shape: ErrorShape)] = []
    var fallback: Route?

    /// `handler` answers GET and HEAD requests no route claims (outside `/v1/` and `/api/`).
    public func fallback(_ access: RouteAccess, _ handler: @escaping RouteHandler) {
        precondition(fallback == nil, "one fallback route")
        let route = Route(index: routes.count, method: .get, pattern: "/*", access: access, stages: stages(access), handler: handler)
        routes.append(route)
        fallback = route
    }

    /// Routes under `prefix` registered after this call, and unmatched paths under it, answer
    /// errors in `shape`.
    public func errors(under prefix: String, _ shape: @escaping ErrorShape) {
        errorShapes.append((Array(prefix.utf8), shape))
    }

    /// `stages` turns a route's declared access into its pipeline (`GatewayServices.stages`);
    /// the default runs none, for tests of the router alone.
    public init(stages: @escaping (RouteAccess) -> [any RequestStage] = { _ in [] }) {
        self.stages = stages
    }

    /// Registers `handler` for `method` on `pattern` ("/v1/documents/:id"), behind the stages
    /// `access` asks for. With `streamingBodyUpTo`, the pipeline runs as soon as the head has
    /// arrived and the handler reads the body (up to that many bytes) as a stream.
    public func add(_ method: HTTPMethod, _ pattern: String, _ access: RouteAccess, streamingBodyUpTo: Int? = nil,
                    _ handler: @escaping RouteHandler) {
        precondition(pattern.hasPrefix("/"), "route patterns start with /")
        var node = root
        for segment in pattern.split(separator: "/", omittingEmptySubsequences: true) {
            if segment.hasPrefix(":") {
                let name = String(segment.dropFirst())
                if let (existing, next) = node.parameter {
                    precondition(existing == name, "conflicting parameter names at \(pattern)")
                    node = next
                } else {
                    let next = Router.Node()
                    node.parameter = (name, next)
                    node = next
                }
            } else {
                let bytes = Array(segment.utf8)
                if let next = node.statics.first(where: { $0.segment == bytes })?.node {
                    node = next
                } else {
                    let next = Router.Node()
                    node.statics.append((bytes, next))
                    node = next
                }
            }
        }
        precondition(!node.routes.contains { $0.method == method }, "duplicate route \(method) \(pattern)")
        let shape = errorShapes.last { pattern.utf8.starts(with: $0.prefix) }?.shape
        let route = Route(index: routes.count, method: method, pattern: pattern, access: access, stages: stages(access),
                          errorShape: shape, streamedBodyLimit: streamingBodyUpTo, handler: handler)
        node.routes.append((method, route))
        routes.append(route)
    }

    public func get(_ pattern: String, _ access: RouteAccess, _ handler: @escaping RouteHandler) { add(.get, pattern, access, handler) }
    public func post(_ pattern: String, _ access: RouteAccess, _ handler: @escaping RouteHandler) { add(.post, pattern, access, handler) }
    public func put(_ pattern: String, _ access: RouteAccess, _ handler: @escaping RouteHandler) { add(.put, pattern, access, handler) }
    public func patch(_ pattern: String, _ access: RouteAccess, _ handler: @escaping RouteHandler) { add(.patch, pattern, access, handler) }
    public func delete(_ pattern: String, _ access: RouteAccess, _ handler: @escaping RouteHandler) { add(.delete, pattern, access, handler) }

    public func build() -> Router { Router(root: root, routes: routes, errorShapes: errorShapes, fallback: fallback) }
}
