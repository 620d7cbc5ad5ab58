#ifndef AIWRITER_CSQLITE_SHIM_H
#define AIWRITER_CSQLITE_SHIM_H
#include <sqlite3.h>
/* SQLITE_TRANSIENT is a cast macro that does not import into Swift. */
static inline void csqlite_bind_text_transient(sqlite3_stmt *s, int i, const char *p, int n) {
    sqlite3_bind_text(s, i, p, n, SQLITE_TRANSIENT);
}
static inline void csqlite_bind_blob_transient(sqlite3_stmt *s, int i, const void *p, int n) {
    sqlite3_bind_blob(s, i, p, n, SQLITE_TRANSIENT);
}
#endif
