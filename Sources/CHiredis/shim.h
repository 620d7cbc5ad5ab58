#ifndef AIWRITER_CHIREDIS_SHIM_H
#define AIWRITER_CHIREDIS_SHIM_H
#include <stdlib.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>

static inline int aiw_redis_context_error(const redisAsyncContext *ac) { return ac->err; }
static inline const char *aiw_redis_context_errstr(const redisAsyncContext *ac) { return ac->errstr; }
static inline void *aiw_redis_context_data(const redisAsyncContext *ac) { return ac->data; }
static inline void aiw_redis_set_context_data(redisAsyncContext *ac, void *data) { ac->data = data; }
#endif
