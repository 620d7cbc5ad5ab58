#ifndef AIWRITER_CZLIB_SHIM_H
#define AIWRITER_CZLIB_SHIM_H
#include <zlib.h>
#endif
