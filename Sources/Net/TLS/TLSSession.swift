import COpenSSL

/// One connection's TLS state on memory BIOs: ciphertext read from the socket is written into
/// `incoming`, ciphertext to send is read out of `outgoing`, so the loop never blocks on a
/// handshake and the HTTP codec above sees plaintext as it would on a plain socket.
final class TLSSession {
    enum Progress {
        case needMoreData
        case established
        case failed(reason: String)
    }

    let ssl: OpaquePointer
    let incoming: OpaquePointer
    let outgoing: OpaquePointer
    /// Keeps the contexts (and the SNI callback's object) alive as long as this session.
    let context: AnyObject
    private(set) var isEstablished = false

    /// The server side of an accepted connection.
    convenience init?(context: TLSContext) {
        self.init(ctx: context.defaultContext, owner: context)
        SSL_set_accept_state(ssl)
    }

    /// An SSL on `ctx` with both memory BIOs attached; `owner` keeps `ctx` alive.
    private init?(ctx: OpaquePointer, owner: AnyObject) {
        guard let ssl = SSL_new(ctx) else { return nil }
        guard let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        self.ssl = ssl
        incoming = rbio
        outgoing = wbio
        context = owner
        SSL_set_bio(ssl, rbio, wbio) // the SSL owns both BIOs from here on
    }

    /// The client side: a session that connects to `serverName` (sent as SNI).
    convenience init?(client: TLSClientContext, serverName: String) {
        self.init(ctx: client.ctx, owner: client)
        SSL_set_connect_state(ssl)
        if !serverName.isEmpty && !serverName.allSatisfy({ $0.isNumber || $0 == "." }) {
            _ = cssl_set_host_name(ssl, serverName)
            if client.verifyPeer { SSL_set1_host(ssl, serverName) }
        }
    }

    deinit { SSL_free(ssl) }

    func receive(_ bytes: UnsafeRawPointer, _ count: Int) {
        _ = BIO_write(incoming, bytes, Int32(count))
    }

    /// Drives the handshake with what has been received.
    func advance() -> Progress {
        if isEstablished { return .established }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            isEstablished = true
            return .established
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ { return .needMoreData }
        return .failed(reason: TLSSession.failureReason(error))
    }

    /// Buckets OpenSSL's reason into the labels `/metrics` reports.
    static func failureReason(_ sslError: Int32) -> String {
        let e = ERR_peek_last_error()
        let reason = Int32(e & 0x7FFFFF)
        ERR_clear_error()
        if sslError == SSL_ERROR_SYSCALL || sslError == SSL_ERROR_ZERO_RETURN { return "eof" }
        switch reason {
        case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST, SSL_R_WRONG_VERSION_NUMBER, SSL_R_PACKET_LENGTH_TOO_LONG,
             SSL_R_RECORD_LENGTH_MISMATCH, SSL_R_WRONG_SSL_VERSION, SSL_R_UNEXPECTED_MESSAGE, SSL_R_LENGTH_MISMATCH:
            return "not_tls"
        case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_VERSION_TOO_LOW, SSL_R_NO_PROTOCOLS_AVAILABLE:
            return "protocol_version"
        case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SHARED_GROUPS, SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
            return "no_shared_cipher"
        case SSL_R_NO_APPLICATION_PROTOCOL:
            return "no_application_protocol"
        default:
            return "other"
        }
    }

    /// Plaintext decrypted so far: > 0 bytes, 0 when more ciphertext is needed, −1 when the
    /// peer closed (close_notify) or the record layer failed.
    func read(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        let n = SSL_read(ssl, buffer, Int32(capacity))
        if n > 0 { return Int(n) }
        let error = SSL_get_error(ssl, n)
        if error == SSL_ERROR_WANT_READ { return 0 }
        ERR_clear_error()
        return -1
    }

    /// Encrypts plaintext (memory BIOs always take all of it).
    func write(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        var offset = 0
        while offset < count {
            let n = SSL_write(ssl, bytes + offset, Int32(min(count - offset, 1 << 30)))
            if n <= 0 {
                ERR_clear_error()
                return false
            }
            offset += Int(n)
        }
        return true
    }

    /// Moves every pending ciphertext byte into `buffer`.
    func drainCiphertext(into buffer: inout ByteBuffer) {
        while true {
            let pending = Int(cssl_bio_pending(outgoing))
            if pending <= 0 { return }
            buffer.reserveWritable(pending)
            let n = BIO_read(outgoing, buffer.storage + buffer.writerIndex, Int32(pending))
            if n <= 0 { return }
            buffer.writerIndex += Int(n)
        }
    }

    /// Queues close_notify.
    func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    var wasResumed: Bool { SSL_session_reused(ssl) == 1 }
    var protocolVersion: Int32 { SSL_version(ssl) }
}
