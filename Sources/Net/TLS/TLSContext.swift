import COpenSSL

/// The server's OpenSSL contexts: one per certificate, the first the default, the others
/// chosen by SNI (X509_check_host against each leaf, wildcards included). Configured once and
/// then shared by every loop: OpenSSL allows concurrent SSL_new on a configured SSL_CTX.
public final class TLSContext: @unchecked Sendable {
    // @unchecked: the SSL_CTXs are immutable after init; OpenSSL locks their session caches.

    struct Entry {
        let context: OpaquePointer
        let leaf: OpaquePointer
    }

    let entries: [Entry]
    public let configuration: TLSConfiguration

    public init(configuration: TLSConfiguration) throws(TLSError) {
        guard !configuration.pairs.isEmpty else { throw TLSError("TLS needs at least one certificate and key") }
        self.configuration = configuration
        var entries: [Entry] = []
        for files in configuration.pairs {
            entries.append(try TLSContext.makeContext(files, configuration))
        }
        self.entries = entries
        let me = Unmanaged.passUnretained(self).toOpaque()
        for e in entries {
            _ = cssl_ctx_set_servername_callback(e.context, TLSContext.serverNameCallback, me)
        }
    }

    deinit {
        for e in entries {
            X509_free(e.leaf)
            SSL_CTX_free(e.context)
        }
    }

    static func lastError() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        cssl_last_error(&buffer, 256)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func makeContext(_ files: TLSConfiguration.CertificateFiles, _ c: TLSConfiguration) throws(TLSError) -> Entry {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError("SSL_CTX_new: \(lastError())") }
        var ok = false
        defer { if !ok { SSL_CTX_free(ctx) } }
        _ = cssl_ctx_set_min_proto(ctx, c.minimumVersion == .tls13 ? cssl_tls1_3_version() : cssl_tls1_2_version())
        guard SSL_CTX_set_cipher_list(ctx, TLSConfiguration.intermediateCiphers) == 1 else { throw TLSError("cipher list: \(lastError())") }
        guard cssl_ctx_set_groups(ctx, TLSConfiguration.groups) == 1 else { throw TLSError("groups: \(lastError())") }
        // The server's cipher order wins. Mozilla's intermediate profile leaves the choice to
        // the client (every cipher in it is an AEAD with forward secrecy), but testssl.sh rates
        // "no server cipher order" HIGH, and preferring the list's own order costs nothing.
        // No renegotiation, no compression; tickets by our rotating keys.
        _ = cssl_ctx_set_options(ctx, cssl_op_no_renegotiation() | cssl_op_no_compression() | cssl_op_cipher_server_preference())
        _ = cssl_ctx_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        guard SSL_CTX_use_certificate_chain_file(ctx, files.chain) == 1 else {
            throw TLSError("cannot load certificate chain \(files.chain): \(lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, files.key, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError("cannot load private key \(files.key): \(lastError())")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError("private key \(files.key) does not match certificate \(files.chain)")
        }
        _ = cssl_ctx_set_session_cache_mode(ctx, Int(SSL_SESS_CACHE_SERVER))
        _ = cssl_ctx_sess_set_cache_size(ctx, c.sessionCacheSize)
        let sessionContext: [UInt8] = Array(c.sessionIDContext.utf8.prefix(32))
        _ = SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))
        _ = cssl_ctx_set_ticket_cb(ctx, TLSTicketKeys.callback)
        SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, input, inputLength, _ in
            // Only http/1.1 is served; a client offering neither it nor nothing gets the
            // no_application_protocol alert (as nginx does).
            guard let input, let out, let outLength else { return SSL_TLSEXT_ERR_NOACK }
            var i = 0
            while i < Int(inputLength) {
                let n = Int(input[i])
                if n == 8 && i + 1 + n <= Int(inputLength) {
                    let name = Array(UnsafeBufferPointer(start: input + i + 1, count: 8))
                    if name == Array("http/1.1".utf8) {
                        out.pointee = UnsafePointer(input + i + 1)
                        outLength.pointee = 8
                        return SSL_TLSEXT_ERR_OK
                    }
                }
                i += 1 + n
            }
            return SSL_TLSEXT_ERR_ALERT_FATAL
        }, nil)
        guard let leaf = SSL_CTX_get0_certificate(ctx) else { throw TLSError("no certificate in \(files.chain)") }
        X509_up_ref(leaf)
        ok = true
        return Entry(context: ctx, leaf: leaf)
    }

    /// Picks the context whose certificate matches the SNI name; keeps the default otherwise.
    static let serverNameCallback: @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutableRawPointer?) -> Int32 = { ssl, _, arg in
        guard let ssl, let arg, let name = SSL_get_servername(ssl, cssl_ext_name_type_host()) else { return SSL_TLSEXT_ERR_NOACK }
        let me = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
        let length = strlen(name)
        for e in me.entries.dropFirst() where X509_check_host(e.leaf, name, length, 0, nil) == 1 {
            SSL_set_SSL_CTX(ssl, e.context)
            return SSL_TLSEXT_ERR_OK
        }
        return SSL_TLSEXT_ERR_OK
    }

    var defaultContext: OpaquePointer { entries[0].context }
}
