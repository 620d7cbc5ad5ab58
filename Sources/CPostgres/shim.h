#ifndef AIWRITER_CPOSTGRES_SHIM_H
#define AIWRITER_CPOSTGRES_SHIM_H
#include <postgresql/libpq-fe.h>
#endif
