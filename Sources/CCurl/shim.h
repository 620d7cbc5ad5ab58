#ifndef AIWRITER_CCURL_SHIM_H
#define AIWRITER_CCURL_SHIM_H
#include <curl/curl.h>

// curl_easy_setopt, curl_multi_setopt and curl_easy_getinfo are variadic, which Swift cannot
// call: one typed wrapper per argument kind.
static inline CURLcode aiw_easy_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aiw_easy_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aiw_easy_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode aiw_easy_write_cb(CURL *h, CURLoption o, size_t (*cb)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, o, cb); }
typedef int (*aiw_prereq_cb)(void *, char *, char *, int, int);
static inline CURLcode aiw_easy_prereq_cb(CURL *h, aiw_prereq_cb cb, void *data) {
    CURLcode rc = curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, cb);
    return rc != CURLE_OK ? rc : curl_easy_setopt(h, CURLOPT_PREREQDATA, data);
}
static inline CURLcode aiw_easy_info_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode aiw_easy_info_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }

typedef int (*aiw_socket_cb)(CURL *, curl_socket_t, int, void *, void *);
typedef int (*aiw_timer_cb)(CURLM *, long, void *);
static inline CURLMcode aiw_multi_socket_cb(CURLM *m, aiw_socket_cb cb, void *data) {
    CURLMcode rc = curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, cb);
    return rc != CURLM_OK ? rc : curl_multi_setopt(m, CURLMOPT_SOCKETDATA, data);
}
static inline CURLMcode aiw_multi_timer_cb(CURLM *m, aiw_timer_cb cb, void *data) {
    CURLMcode rc = curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, cb);
    return rc != CURLM_OK ? rc : curl_multi_setopt(m, CURLMOPT_TIMERDATA, data);
}
static inline CURLMcode aiw_multi_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

// CURLMsg's payload is a union.
static inline CURLcode aiw_msg_result(const CURLMsg *msg) { return msg->data.result; }
#endif
