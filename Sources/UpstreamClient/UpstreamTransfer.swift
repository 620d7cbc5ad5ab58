import CCurl
#if canImport(Glibc)
import Glibc
#endif
import Net

/// One call in flight on a loop's `CurlMulti`: its easy handle's options, libcurl's header and
/// body callbacks turned into `onHead` / `onBody`, and the first-byte and idle timers libcurl
/// has no millisecond option for. Loop thread only.
public final class UpstreamTransfer {
    unowned let client: CurlMulti
    let easy: UnsafeMutableRawPointer
    let request: UpstreamRequest
    var onHead: ((UpstreamHead) -> Void)?
    var onBody: ((UnsafeRawBufferPointer) -> Void)?
    var onEnd: ((UpstreamError?) -> Void)?
    /// Kept alive for libcurl, which reads it while the call runs (strings it copies).
    var sharedHeaders: UpstreamHeaderList?
    var url: [CChar]
    var method: [CChar]
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
    var fields: [(String, String)] = []
    var headDelivered = false
    /// The first-byte deadline, then the idle one (pooled with the easy handle).
    let deadline: LoopTimer
    var lastActivity: UInt64 = 0

    init(client: CurlMulti, easy: UnsafeMutableRawPointer, deadline: LoopTimer, request: UpstreamRequest,
         onHead: @escaping (UpstreamHead) -> Void, onBody: @escaping (UnsafeRawBufferPointer) -> Void,
         onEnd: @escaping (UpstreamError?) -> Void) {
        self.client = client
        self.easy = easy
        self.deadline = deadline
        self.request = request
        self.onHead = onHead
        self.onBody = onBody
        self.onEnd = onEnd
        url = Array(request.url.utf8CString)
        method = Array(request.method.utf8CString)
        errorBuffer.initialize(to: 0)
    }

    deinit { errorBuffer.deallocate() }

    /// Stops the call; `onEnd` gets `.cancelled` unless it has ended already.
    public func cancel() { client.abort(self, .cancelled) }

    /// Whether `http_proxy`, `https_proxy`, `all_proxy` (either case) were set when the process
    /// started: then libcurl honours them on each call, as curl does.
    static let environmentNamesAProxy: Bool = {
        for name in ["http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"] where getenv(name) != nil { return true }
        return false
    }()
    /// An empty C string that lives as long as the process (libcurl copies it anyway).
    nonisolated(unsafe) static let noProxy: UnsafeMutablePointer<CChar> = strdup("")!

    func configure() {
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = aiw_easy_ptr(easy, CURLOPT_PRIVATE, me)
        url.withUnsafeBufferPointer { _ = aiw_easy_ptr(easy, CURLOPT_URL, $0.baseAddress) } // copied by libcurl
        _ = aiw_easy_long(easy, CURLOPT_NOSIGNAL, 1)
        if !UpstreamTransfer.environmentNamesAProxy {
            // No proxy variable was set at start: say so, or libcurl reads five of them with
            // getenv on every call.
            _ = aiw_easy_ptr(easy, CURLOPT_PROXY, UpstreamTransfer.noProxy)
        }
        _ = aiw_easy_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = aiw_easy_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeoutMs))
        _ = aiw_easy_long(easy, CURLOPT_TIMEOUT_MS, Int(request.totalTimeoutMs))
        _ = aiw_easy_long(easy, CURLOPT_TCP_NODELAY, 1)
        _ = aiw_easy_long(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
        // Answers pass through as they are: no decompression, no redirects followed.
        _ = aiw_easy_long(easy, CURLOPT_FOLLOWLOCATION, 0)
        if request.method == "GET" {
            _ = aiw_easy_long(easy, CURLOPT_HTTPGET, 1)
        } else {
            _ = aiw_easy_long(easy, CURLOPT_POST, 1)
            _ = aiw_easy_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            // Copied by libcurl: a Swift array's storage is not promised to stay put.
            request.body.withUnsafeBufferPointer { _ = aiw_easy_ptr(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
            if request.method != "POST" {
                method.withUnsafeBufferPointer { _ = aiw_easy_ptr(easy, CURLOPT_CUSTOMREQUEST, $0.baseAddress) } // copied
            }
        }
        if request.headers.isEmpty, let shared = request.sharedHeaders {
            sharedHeaders = shared
            _ = aiw_easy_ptr(easy, CURLOPT_HTTPHEADER, shared.list)
        } else {
            let own = UpstreamHeaderList((request.sharedHeaders?.fields ?? []) + request.headers)
            sharedHeaders = own
            _ = aiw_easy_ptr(easy, CURLOPT_HTTPHEADER, own.list)
        }
        _ = aiw_easy_write_cb(easy, CURLOPT_HEADERFUNCTION) { UpstreamTransfer.deliver($0, $1 * $2, $3) { $0.headerLine($1) } }
        _ = aiw_easy_ptr(easy, CURLOPT_HEADERDATA, me)
        _ = aiw_easy_write_cb(easy, CURLOPT_WRITEFUNCTION) { UpstreamTransfer.deliver($0, $1 * $2, $3) { $0.bodyBytes($1) } }
        _ = aiw_easy_ptr(easy, CURLOPT_WRITEDATA, me)
        // Called once the connection is up (TCP and TLS), just before the request goes out:
        // where the first-byte clock starts, so a slow connect is not charged to the upstream's
        // think time (the connect has its own timeout).
        _ = aiw_easy_prereq_cb(easy, { userp, _, _, _, _ in
            let me = Unmanaged<UpstreamTransfer>.fromOpaque(userp!).takeUnretainedValue()
            me.connected()
            return CURL_PREREQFUNC_OK
        }, me)
    }

    /// libcurl's header and body callbacks: `count` bytes at `data` for the transfer at `userp`.
    @inline(__always)
    static func deliver(_ data: UnsafeMutablePointer<CChar>?, _ count: Int, _ userp: UnsafeMutableRawPointer?,
                        _ handle: (UpstreamTransfer, UnsafeRawBufferPointer) -> Void) -> Int {
        handle(Unmanaged<UpstreamTransfer>.fromOpaque(userp!).takeUnretainedValue(), UnsafeRawBufferPointer(start: data, count: count))
        return count
    }

    func connected() {
        guard !deadline.isArmed, !headDelivered else { return }
        deadline.arm(afterMilliseconds: request.firstByteTimeoutMs) { [weak self] in
            guard let self, !headDelivered else { return }
            client.abort(self, .firstByteTimeout)
        }
    }

    /// The idle timer is re-armed lazily: each expiry checks the time of the last byte, so a
    /// fast stream costs one timer per idle period, not one per chunk.
    func armIdleTimer(after ms: UInt64) {
        deadline.arm(afterMilliseconds: ms) { [weak self] in
            guard let self else { return }
            let silent = client.loop.nowMilliseconds &- lastActivity
            if silent >= request.idleTimeoutMs {
                client.abort(self, .idleTimeout)
            } else {
                armIdleTimer(after: request.idleTimeoutMs - silent)
            }
        }
    }

    func headerLine(_ line: UnsafeRawBufferPointer) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0A || line[end - 1] == 0x0D { end -= 1 }
        if end == 0 {
            // The blank line after a head: a final one is delivered, an interim one (1xx) is
            // forgotten with its fields.
            var code = 0
            _ = aiw_easy_info_long(easy, CURLINFO_RESPONSE_CODE, &code)
            if code >= 200 { deliverHead(code) } else { fields.removeAll() }
            return
        }
        // "HTTP/…" starts each answer's status line (an interim one's too).
        if end >= 5, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50, line[4] == 0x2F {
            fields.removeAll(keepingCapacity: true)
            return
        }
        var colon = 0
        while colon < end, line[colon] != 0x3A { colon += 1 }
        guard colon < end else { return }
        var valueStart = colon + 1
        var valueEnd = end
        while valueStart < valueEnd, line[valueStart] == 0x20 || line[valueStart] == 0x09 { valueStart += 1 }
        while valueEnd > valueStart, line[valueEnd - 1] == 0x20 || line[valueEnd - 1] == 0x09 { valueEnd -= 1 }
        fields.append((String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<colon]), as: UTF8.self),
                       String(decoding: UnsafeRawBufferPointer(rebasing: line[valueStart..<valueEnd]), as: UTF8.self)))
    }

    func deliverHead(_ code: Int) {
        guard !headDelivered else { return }
        headDelivered = true
        lastActivity = client.loop.nowMilliseconds
        armIdleTimer(after: request.idleTimeoutMs)
        let head = UpstreamHead(status: code, headers: fields)
        fields = []
        onHead?(head)
    }

    func bodyBytes(_ bytes: UnsafeRawBufferPointer) {
        if !headDelivered {
            var code = 0
            _ = aiw_easy_info_long(easy, CURLINFO_RESPONSE_CODE, &code)
            deliverHead(code)
        }
        lastActivity = client.loop.nowMilliseconds
        onBody?(bytes)
    }

    /// libcurl's result as our error (nil: complete).
    func error(for code: CURLcode) -> UpstreamError? {
        if code == CURLE_OK { return nil }
        let detail = errorBuffer.pointee != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT,
             CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE:
            return .connect(detail)
        case CURLE_OPERATION_TIMEDOUT:
            // libcurl's one timeout code covers both the connect and the total timeout.
            return headDelivered || !detail.lowercased().contains("connect") ? .totalTimeout : .connect(detail)
        case CURLE_GOT_NOTHING where !headDelivered:
            return .connect(detail)
        default:
            return .transfer(detail)
        }
    }

    func end(_ error: UpstreamError?) {
        if error == nil, !headDelivered {
            var code = 0
            _ = aiw_easy_info_long(easy, CURLINFO_RESPONSE_CODE, &code)
            deliverHead(code)
        }
        deadline.disarm()
        let done = onEnd
        onHead = nil
        onBody = nil
        onEnd = nil
        done?(error)
    }
}
