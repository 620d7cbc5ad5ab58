import CHiredis
import DequeModule
import Net

/// One asynchronous hiredis connection on one loop: commands pipeline on it in order, replies
/// come back on the loop. Lifecycle as libuv's handles: connect on first use, close on loop stop.
///
/// hiredis 0.14 has no timeouts of its own, so this keeps them: a connect that takes longer
/// than the connect timeout, or a reply older than the command timeout, drops the connection
/// (every pending command fails). Reconnects back off from 100 ms to 5 s; while backing off,
/// commands fail at once, so callers fall back without waiting on a dead server.
public final class RedisClient {
    public let loop: EventLoop
    public let settings: RedisSettings
    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var connected = false
    private var connectStartedAt: UInt64 = 0
    private var pending = Deque<PendingCommand>()
    private var backoff = Backoff()
    private var lastError = "not connected yet"
    private var watchdog: ScheduledTask?
    private var closed = false
    /// Called on the loop whenever the connection comes up or goes down.
    public var onStateChange: ((Bool) -> Void)?

    public init(loop: EventLoop, settings: RedisSettings) {
        self.loop = loop
        self.settings = settings
        loop.onStop { [weak self] in self?.close() }
    }

    public var isConnected: Bool { connected }

    /// Sends a command (arguments as bytes). `done` runs on the loop exactly once.
    public func send(_ arguments: [[UInt8]], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        guard !closed else { return done(.failure(.unavailable("client closed"))) }
        if context == nil {
            guard backoff.allows(now: loop.nowMilliseconds) else { return done(.failure(.unavailable(lastError))) }
            connect()
            guard context != nil else { return done(.failure(.unavailable(lastError))) }
        }
        let command = PendingCommand(done: done, sentAt: loop.nowMilliseconds)
        let box = Unmanaged.passRetained(command)
        let argc = Int32(arguments.count)
        var lengths = arguments.map { $0.count }
        let rc: Int32 = withArgumentPointers(arguments) { argv in
            redisAsyncCommandArgv(context, { context, reply, privdata in
                let command = Unmanaged<PendingCommand>.fromOpaque(privdata!).takeRetainedValue()
                command.complete(reply.map { RedisReply($0.assumingMemoryBound(to: redisReply.self)) })
            }, box.toOpaque(), argc, argv, &lengths)
        }
        guard rc == REDIS_OK else {
            box.release()
            return done(.failure(.unavailable("redisAsyncCommand failed")))
        }
        pending.append(command)
        armWatchdog()
    }

    /// Convenience for text arguments.
    public func send(_ arguments: [String], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        send(arguments.map { Array($0.utf8) }, done)
    }

    /// Runs a Lua script by its SHA-1 (`EVALSHA`: the text crosses the wire once per server),
    /// sending the text only when the server answers NOSCRIPT (first use, or after a restart
    /// or `SCRIPT FLUSH`). `arguments` are numkeys, the keys, then ARGV. An error reply is a
    /// failure.
    public func evaluate(_ script: RedisScript, _ arguments: [[UInt8]], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        send([Array("EVALSHA".utf8), Array(script.sha.utf8)] + arguments) { [self] result in
            if case .success(.error(let message)) = result, message.hasPrefix("NOSCRIPT") {
                send([Array("EVAL".utf8), Array(script.text.utf8)] + arguments) { retried in
                    if case .success(.error(let message)) = retried { return done(.failure(.unavailable(message))) }
                    done(retried)
                }
                return
            }
            if case .success(.error(let message)) = result { return done(.failure(.unavailable(message))) }
            done(result)
        }
    }

    public func evaluate(_ script: RedisScript, _ arguments: [String], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        evaluate(script, arguments.map { Array($0.utf8) }, done)
    }

    private func connect() {
        guard let ac = redisAsyncConnect(settings.host, settings.port) else {
            fail("out of memory")
            return
        }
        if aiw_redis_context_error(ac) != 0 {
            let message = String(cString: aiw_redis_context_errstr(ac))
            redisAsyncFree(ac)
            fail(message)
            return
        }
        guard HiredisLoopAdapter.attach(ac, to: loop) else {
            redisAsyncFree(ac)
            fail("cannot attach to the loop")
            return
        }
        aiw_redis_set_context_data(ac, Unmanaged.passUnretained(self).toOpaque())
        redisAsyncSetConnectCallback(ac) { ac, status in
            let me = Unmanaged<RedisClient>.fromOpaque(aiw_redis_context_data(ac!)!).takeUnretainedValue()
            me.didConnect(status: status, message: status == REDIS_OK ? "" : String(cString: aiw_redis_context_errstr(ac!)))
        }
        redisAsyncSetDisconnectCallback(ac) { ac, status in
            let me = Unmanaged<RedisClient>.fromOpaque(aiw_redis_context_data(ac!)!).takeUnretainedValue()
            me.didDisconnect(message: status == REDIS_OK ? "disconnected" : String(cString: aiw_redis_context_errstr(ac!)))
        }
        context = ac
        connectStartedAt = loop.nowMilliseconds
        // Authentication and database selection go first; hiredis keeps commands in order.
        if let password = settings.password { send(["AUTH", password]) { _ in } }
        if settings.database != 0 { send(["SELECT", String(settings.database)]) { _ in } }
        armWatchdog()
    }

    private func didConnect(status: Int32, message: String) {
        guard status == REDIS_OK else {
            // hiredis frees the context after a failed connect and fails what was queued.
            context = nil
            fail(message)
            return
        }
        connected = true
        backoff.succeeded()
        onStateChange?(true)
    }

    private func didDisconnect(message: String) {
        // hiredis has failed every pending callback (NULL reply) and frees the context.
        context = nil
        let wasConnected = connected
        connected = false
        fail(message)
        if wasConnected { onStateChange?(false) }
    }

    private func fail(_ message: String) {
        lastError = message
        backoff.failed(now: loop.nowMilliseconds)
        pending.removeAll()
    }

    /// Drops pending commands' bookkeeping once they completed; drops the connection when the
    /// oldest reply or the connect is overdue.
    private func armWatchdog() {
        guard watchdog == nil, !closed else { return }
        let period = max(10, min(settings.commandTimeoutMilliseconds, settings.connectTimeoutMilliseconds) / 2)
        watchdog = loop.schedule(afterMilliseconds: period) { [weak self] in
            guard let self else { return }
            self.watchdog = nil
            self.checkDeadlines()
        }
    }

    private func checkDeadlines() {
        while let oldest = pending.first, oldest.finished { pending.removeFirst() }
        guard let context else { return }
        let now = loop.nowMilliseconds
        let connectOverdue = !connected && now - connectStartedAt > settings.connectTimeoutMilliseconds
        let replyOverdue = pending.first.map { now - $0.sentAt > settings.commandTimeoutMilliseconds } ?? false
        if connectOverdue || replyOverdue {
            for command in pending where !command.finished { command.timedOut = true }
            lastError = connectOverdue ? "connect timed out" : "reply timed out"
            if connected {
                redisAsyncDisconnect(context)
            } else {
                // A connect in progress: free it; pending callbacks run with NULL replies.
                self.context = nil
                redisAsyncFree(context)
                fail(lastError)
            }
            return
        }
        if !pending.isEmpty || !connected { armWatchdog() }
    }

    /// Closes the connection; pending commands fail.
    public func close() {
        guard !closed else { return }
        closed = true
        watchdog?.cancel()
        watchdog = nil
        if let context {
            self.context = nil
            if connected { redisAsyncDisconnect(context) } else { redisAsyncFree(context) }
        }
    }
}

/// A command waiting for its reply; the hiredis callback holds one retain.
final class PendingCommand {
    let done: (Result<RedisReply, RedisError>) -> Void
    let sentAt: UInt64
    var finished = false
    var timedOut = false

    init(done: @escaping (Result<RedisReply, RedisError>) -> Void, sentAt: UInt64) {
        self.done = done
        self.sentAt = sentAt
    }

    func complete(_ reply: RedisReply?) {
        guard !finished else { return }
        finished = true
        if let reply { done(.success(reply)) }
        else { done(.failure(timedOut ? .timeout : .unavailable("connection lost"))) }
    }
}

private func withArgumentPointers<R>(_ arguments: [[UInt8]], _ body: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafePointer<CChar>?] = []
    pointers.reserveCapacity(arguments.count)
    func recurse(_ i: Int) -> R {
        if i == arguments.count { return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) } }
        return arguments[i].withUnsafeBufferPointer { buffer in
            pointers.append(buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) } ?? UnsafePointer<CChar>(bitPattern: 1)!)
            return recurse(i + 1)
        }
    }
    return recurse(0)
}
