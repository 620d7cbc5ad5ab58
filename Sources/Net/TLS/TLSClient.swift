import COpenSSL

/// TLS for outgoing connections (the load generator's `https://`): one client context, shared
/// by every loop, and per-connection `TLSClientSession`s on memory BIOs, so the client drives
/// handshakes and records from its own event loop exactly as the server does.
public final class TLSClientContext: @unchecked Sendable {
    // @unchecked: the SSL_CTX is configured in init and only read afterwards (OpenSSL allows
    // concurrent SSL_new on a configured context).
    let ctx: OpaquePointer
    public let verifyPeer: Bool

    /// `verifyPeer` checks the chain against the system's (or `caFile`'s) roots and the name.
    public init(verifyPeer: Bool, caFile: String? = nil) throws(TLSError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError("SSL_CTX_new: \(TLSContext.lastError())") }
        self.ctx = ctx
        self.verifyPeer = verifyPeer
        _ = cssl_ctx_set_min_proto(ctx, TLS1_2_VERSION)
        // ALPN: http/1.1 (length-prefixed).
        let alpn: [UInt8] = [8] + Array("http/1.1".utf8)
        _ = SSL_CTX_set_alpn_protos(ctx, alpn, UInt32(alpn.count))
        if verifyPeer {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            if let caFile {
                guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                    throw TLSError("cannot load CA file \(caFile): \(TLSContext.lastError())")
                }
            } else {
                SSL_CTX_set_default_verify_paths(ctx)
            }
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
    }

    deinit { SSL_CTX_free(ctx) }
}

/// One client connection's TLS: feed it ciphertext from the socket, take ciphertext to send.
public final class TLSClientSession {
    let session: TLSSession

    public init?(context: TLSClientContext, serverName: String) {
        guard let session = TLSSession(client: context, serverName: serverName) else { return nil }
        self.session = session
    }

    public enum Progress: Equatable { case needMoreData, established, failed(String) }

    /// Ciphertext received from the socket.
    public func receive(_ bytes: UnsafeRawPointer, _ count: Int) { session.receive(bytes, count) }

    /// Drives the handshake (call after `receive`, and once at the start to send the hello).
    public func handshake() -> Progress {
        switch session.advance() {
        case .established: return .established
        case .needMoreData: return .needMoreData
        case .failed(let reason): return .failed(reason)
        }
    }

    public var isEstablished: Bool { session.isEstablished }

    /// Decrypted bytes: > 0 read, 0 need more ciphertext, −1 closed or failed.
    public func read(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int { session.read(into: buffer, capacity: capacity) }

    /// Encrypts plaintext for sending (take it with `takeCiphertext`).
    public func write(_ bytes: UnsafeRawPointer, _ count: Int) -> Bool { session.write(bytes, count) }

    /// Appends every pending ciphertext byte to `out`.
    public func takeCiphertext(into out: inout [UInt8]) {
        while true {
            let pending = Int(cssl_bio_pending(session.outgoing))
            if pending <= 0 { return }
            let start = out.count
            out.append(contentsOf: repeatElement(0, count: pending))
            let n = out.withUnsafeMutableBytes { BIO_read(session.outgoing, $0.baseAddress! + start, Int32(pending)) }
            out.removeLast(pending - Int(max(0, n)))
            if n <= 0 { return }
        }
    }
}
