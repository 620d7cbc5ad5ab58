#ifndef AIWRITER_CJEMALLOC_SHIM_H
#define AIWRITER_CJEMALLOC_SHIM_H
/* Importing this module puts libjemalloc.so.2 in DT_NEEDED ahead of libc, so every malloc in
   the process (the Swift runtime's included) binds to jemalloc. */
#include <jemalloc/jemalloc.h>
#endif
