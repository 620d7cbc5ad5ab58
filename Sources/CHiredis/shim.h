#ifndef AIWRITER_CHIREDIS_SHIM_H
#define AIWRITER_CHIREDIS_SHIM_H
#include <stdlib.h>
#include <uv.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

/* A libuv adapter for hiredis 0.14's async API, in place of Debian's adapters/libuv.h, which
   drops poll errors (status < 0) on the floor: here an error wakes hiredis's read handler, so
   the failure surfaces as a disconnect at once instead of a silent stall. Timeouts are kept by
   the Swift side on the loop's own timers. */
typedef struct aiw_redis_uv {
    redisAsyncContext *context;
    uv_poll_t handle;
    int events;
} aiw_redis_uv;

static void aiw_redis_poll_cb(uv_poll_t *handle, int status, int events) {
    aiw_redis_uv *p = (aiw_redis_uv *)handle->data;
    if (p->context == NULL) return;
    if (status < 0) events = p->events ? p->events : UV_READABLE;
    if (events & UV_READABLE) redisAsyncHandleRead(p->context);
    /* The read may have freed the context (cleanup clears p->context). */
    if (p->context != NULL && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void aiw_redis_update(aiw_redis_uv *p, int events) {
    if (events == p->events) return;
    p->events = events;
    if (events) uv_poll_start(&p->handle, events, aiw_redis_poll_cb);
    else uv_poll_stop(&p->handle);
}

static void aiw_redis_add_read(void *d) { aiw_redis_uv *p = d; aiw_redis_update(p, p->events | UV_READABLE); }
static void aiw_redis_del_read(void *d) { aiw_redis_uv *p = d; aiw_redis_update(p, p->events & ~UV_READABLE); }
static void aiw_redis_add_write(void *d) { aiw_redis_uv *p = d; aiw_redis_update(p, p->events | UV_WRITABLE); }
static void aiw_redis_del_write(void *d) { aiw_redis_uv *p = d; aiw_redis_update(p, p->events & ~UV_WRITABLE); }
static void aiw_redis_on_close(uv_handle_t *handle) { free(handle->data); }
static void aiw_redis_cleanup(void *d) {
    aiw_redis_uv *p = d;
    p->context = NULL;
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t *)&p->handle, aiw_redis_on_close);
}

/* Attaches `ac` to `loop`; REDIS_OK or REDIS_ERR. */
static inline int aiw_redis_attach(redisAsyncContext *ac, uv_loop_t *loop) {
    if (ac->ev.data != NULL) return REDIS_ERR;
    aiw_redis_uv *p = calloc(1, sizeof(*p));
    if (p == NULL) return REDIS_ERR;
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) { free(p); return REDIS_ERR; }
    p->handle.data = p;
    p->context = ac;
    ac->ev.addRead = aiw_redis_add_read;
    ac->ev.delRead = aiw_redis_del_read;
    ac->ev.addWrite = aiw_redis_add_write;
    ac->ev.delWrite = aiw_redis_del_write;
    ac->ev.cleanup = aiw_redis_cleanup;
    ac->ev.data = p;
    return REDIS_OK;
}

static inline int aiw_redis_context_error(const redisAsyncContext *ac) { return ac->err; }
static inline const char *aiw_redis_context_errstr(const redisAsyncContext *ac) { return ac->errstr; }
static inline void *aiw_redis_context_data(const redisAsyncContext *ac) { return ac->data; }
static inline void aiw_redis_set_context_data(redisAsyncContext *ac, void *data) { ac->data = data; }
#endif
