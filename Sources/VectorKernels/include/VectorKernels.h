#ifndef AIWRITER_VECTOR_KERNELS_H
#define AIWRITER_VECTOR_KERNELS_H
/* Distance kernels for the HNSW index, compiled for several instruction sets in one binary
   (AVX-512F, AVX2+FMA+F16C, portable C) and chosen at run time by CPU feature, so no build
   depends on -march=native and a machine without AVX-512 never executes it.
   Also the few primitives Swift cannot express on raw memory: relaxed/acquire/release atomics
   on graph links, per-node spin locks, prefetch, and a checksum for snapshots. */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Inner product and squared L2 over n floats. */
typedef float (*vk_f32_kernel)(const float *a, const float *b, size_t n);
/* The same with the stored vector in IEEE binary16. */
typedef float (*vk_f16_kernel)(const float *query, const uint16_t *stored, size_t n);

typedef struct {
    vk_f32_kernel dot_f32;
    vk_f32_kernel l2_f32;
    vk_f16_kernel dot_f16;
    vk_f16_kernel l2_f16;
    const char *name; /* "avx512", "avx2", "portable" */
} vk_kernels;

/* The best kernels this CPU supports. */
const vk_kernels *vk_best_kernels(void);
/* A specific level: 0 portable, 1 avx2, 2 avx512; NULL when the CPU lacks it. */
const vk_kernels *vk_kernels_level(int level);

/* float32 <-> binary16 (round to nearest even), dispatched like the kernels. */
void vk_f32_to_f16(const float *src, uint16_t *dst, size_t n);
void vk_f16_to_f32(const uint16_t *src, float *dst, size_t n);

/* Scalar references, in double precision, for tests. */
double vk_reference_dot(const float *a, const float *b, size_t n);
double vk_reference_l2(const float *a, const float *b, size_t n);

static inline uint32_t vk_load_relaxed(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline uint32_t vk_load_acquire(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void vk_store_relaxed(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
static inline void vk_store_release(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint8_t vk_load_u8_acquire(const uint8_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void vk_store_u8_release(uint8_t *p, uint8_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static inline void vk_spin_lock(uint8_t *lock) {
    while (__atomic_test_and_set(lock, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED)) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
        }
    }
}
static inline void vk_spin_unlock(uint8_t *lock) { __atomic_clear(lock, __ATOMIC_RELEASE); }

static inline void vk_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* Prefetches every cache line of [p, p + bytes). */
static inline void vk_prefetch_lines(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(c + off, 0, 3);
}

/* A 64-bit checksum of a byte range (word-wise multiply-xorshift; not cryptographic). */
uint64_t vk_checksum(const void *data, size_t n, uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
