#ifndef AIWRITER_CUV_SHIM_H
#define AIWRITER_CUV_SHIM_H
#include <uv.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/random.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Arms a timerfd for an absolute CLOCK_MONOTONIC time in nanoseconds (0 disarms). */
static inline int cuv_timerfd_at(int fd, unsigned long long ns) {
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = (time_t)(ns / 1000000000ull);
    spec.it_value.tv_nsec = (long)(ns % 1000000000ull);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

/* 64 random bits from the kernel (getrandom is not in Glibc's Swift module). */
static inline unsigned long long cuv_random_u64(void) {
    unsigned long long v = 0;
    if (getrandom(&v, sizeof(v), 0) != sizeof(v)) v = (unsigned long long)time(NULL) * 0x9E3779B97F4A7C15ull;
    return v;
}

/* Starts writeback of a written file range without waiting for it (sync_file_range with
   SYNC_FILE_RANGE_WRITE, which Glibc's Swift module does not declare without _GNU_SOURCE). */
static inline int cuv_start_writeback(int fd, long long offset, long long count) {
    return (int)syscall(SYS_sync_file_range, fd, offset, count, 2 /* SYNC_FILE_RANGE_WRITE */);
}

/* Names the calling thread (pthread_setname_np needs _GNU_SOURCE). */
static inline void cuv_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }

/* libuv's "subclassing" (uv_tcp_t -> uv_stream_t -> uv_handle_t) does not cross into Swift:
   these casts keep call sites readable without re-binding memory. */
static inline uv_stream_t *cuv_stream(uv_tcp_t *tcp) { return (uv_stream_t *)tcp; }
static inline uv_handle_t *cuv_handle_tcp(uv_tcp_t *tcp) { return (uv_handle_t *)tcp; }
static inline uv_handle_t *cuv_handle_stream(uv_stream_t *s) { return (uv_handle_t *)s; }
static inline uv_handle_t *cuv_handle_timer(uv_timer_t *t) { return (uv_handle_t *)t; }
static inline uv_handle_t *cuv_handle_async(uv_async_t *a) { return (uv_handle_t *)a; }
static inline uv_handle_t *cuv_handle_signal(uv_signal_t *s) { return (uv_handle_t *)s; }
static inline uv_handle_t *cuv_handle_poll(uv_poll_t *p) { return (uv_handle_t *)p; }
static inline uv_handle_t *cuv_handle_check(uv_check_t *c) { return (uv_handle_t *)c; }
static inline uv_handle_t *cuv_handle_idle(uv_idle_t *i) { return (uv_handle_t *)i; }
static inline uv_handle_t *cuv_handle_prepare(uv_prepare_t *p) { return (uv_handle_t *)p; }
static inline uv_tcp_t *cuv_tcp_from_stream(uv_stream_t *s) { return (uv_tcp_t *)s; }

/* SO_REUSEPORT on the not-yet-bound socket: every loop listens on the same port and the kernel
   spreads incoming connections over them. */
static inline int cuv_set_reuseport(uv_tcp_t *tcp) {
    uv_os_fd_t fd;
    int rc = uv_fileno((uv_handle_t *)tcp, &fd);
    if (rc != 0) return rc;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) return -1;
    return 0;
}

/* Raises the soft file-descriptor limit to the hard one, as nginx's worker_rlimit_nofile does. */
static inline long cuv_raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

/* An RFC 9110 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", 29 bytes) for the given Unix time. */
static inline int cuv_format_http_date(long seconds, char *out29) {
    static const char days[7][4] = {"Sun","Mon","Tue","Wed","Thu","Fri","Sat"};
    static const char months[12][4] = {"Jan","Feb","Mar","Apr","May","Jun","Jul","Aug","Sep","Oct","Nov","Dec"};
    time_t t = (time_t)seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL) return -1;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                     days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (n != 29) return -1;
    for (int i = 0; i < 29; i++) out29[i] = buf[i];
    return 0;
}
#endif
