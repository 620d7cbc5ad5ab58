#ifndef AIWRITER_CHTTPPARSER_SHIM_H
#define AIWRITER_CHTTPPARSER_SHIM_H
#include <http_parser.h>

/* HTTP_PARSER_ERRNO() is a function-like macro and does not import. */
static inline enum http_errno chttp_errno(const http_parser *p) { return (enum http_errno)p->http_errno; }
static inline unsigned int chttp_method(const http_parser *p) { return p->method; }
#endif
