#ifndef AIWRITER_COPENSSL_SHIM_H
#define AIWRITER_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/sha.h>
#include <string.h>

/* SHA-256 on a stack context: no allocation and no provider lookup. OpenSSL 3's EVP path
   allocates the digest state on every init and its one-shot SHA256() fetches the algorithm
   under a process-wide lock; the low-level functions are deprecated but kept, and used here
   on purpose for the per-request API-key hash. */
static inline void cssl_sha256(const void *data, size_t length, unsigned char out[32]) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX context;
    SHA256_Init(&context);
    SHA256_Update(&context, data, length);
    SHA256_Final(out, &context);
    OPENSSL_cleanse(&context, sizeof context);
#pragma GCC diagnostic pop
}

/* Incremental SHA-256 for streams (file uploads and downloads), on a context the caller owns. */
static inline size_t cssl_sha256_context_size(void) { return sizeof(SHA256_CTX); }
static inline void cssl_sha256_init(void *context) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_Init((SHA256_CTX *)context);
#pragma GCC diagnostic pop
}
static inline void cssl_sha256_update(void *context, const void *data, size_t length) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_Update((SHA256_CTX *)context, data, length);
#pragma GCC diagnostic pop
}
static inline void cssl_sha256_final(void *context, unsigned char out[32]) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    SHA256_Final(out, (SHA256_CTX *)context);
#pragma GCC diagnostic pop
}

/* OpenSSL's function-like macros do not import into Swift: typed wrappers. */
static inline int cssl_ctx_set_min_proto(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
static inline int cssl_ctx_set_max_proto(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
static inline int cssl_ctx_set_groups(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
static inline long cssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
static inline long cssl_ctx_sess_set_cache_size(SSL_CTX *ctx, long size) { return SSL_CTX_sess_set_cache_size(ctx, size); }
static inline long cssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long cssl_ctx_set_options(SSL_CTX *ctx, uint64_t options) { return (long)SSL_CTX_set_options(ctx, options); }
static inline int cssl_ctx_set_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *), void *arg) {
    SSL_CTX_set_tlsext_servername_callback(ctx, cb);
    return (int)SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
static inline int cssl_bio_pending(BIO *b) { return BIO_pending(b); }
static inline uint64_t cssl_op_no_renegotiation(void) { return SSL_OP_NO_RENEGOTIATION; }
/* SSL_set_tlsext_host_name is a macro over SSL_ctrl. */
static inline int cssl_set_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline uint64_t cssl_op_no_compression(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t cssl_op_cipher_server_preference(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline int cssl_tls1_2_version(void) { return TLS1_2_VERSION; }
static inline int cssl_tls1_3_version(void) { return TLS1_3_VERSION; }
static inline int cssl_ext_name_type_host(void) { return TLSEXT_NAMETYPE_host_name; }
static inline int cssl_ctx_set_num_tickets(SSL_CTX *ctx, size_t n) { return SSL_CTX_set_num_tickets(ctx, n); }

/* The most recent error on this thread's queue as text (empties the queue). */
static inline void cssl_last_error(char *buf, size_t len) {
    unsigned long e = ERR_get_error(), next;
    while ((next = ERR_get_error()) != 0) e = next;
    if (e == 0) { strncpy(buf, "unknown error", len); buf[len - 1] = 0; return; }
    ERR_error_string_n(e, buf, len);
}

/* Session-ticket keys rotated by the application (see TLSTicketKeys.swift): the callback
   signature of SSL_CTX_set_tlsext_ticket_key_evp_cb. */
typedef int (*cssl_ticket_cb)(SSL *s, unsigned char key_name[16], unsigned char *iv,
                              EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, int enc);
static inline int cssl_ctx_set_ticket_cb(SSL_CTX *ctx, cssl_ticket_cb cb) {
    return (int)SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, cb);
}

/* Key a ticket's cipher (AES-256-CBC) and MAC (HMAC-SHA256), as OpenSSL's callback contract asks. */
static inline int cssl_ticket_init(EVP_CIPHER_CTX *ctx, EVP_MAC_CTX *hctx, const unsigned char aes[32],
                                   const unsigned char hmac[32], unsigned char *iv, int enc) {
    OSSL_PARAM params[2];
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(hctx, params) != 1) return -1;
    if (EVP_MAC_init(hctx, hmac, 32, NULL) != 1) return -1;
    if (enc) {
        if (RAND_bytes(iv, 16) != 1) return -1;
        return EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, aes, iv) == 1 ? 1 : -1;
    }
    return EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, aes, iv) == 1 ? 1 : -1;
}
#endif
