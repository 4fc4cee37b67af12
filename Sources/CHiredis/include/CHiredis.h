#ifndef OPSCORE_CHIREDIS_H
#define OPSCORE_CHIREDIS_H

#include <hiredis/hiredis.h>
#include <signal.h>

/* Tiny accessors so Swift never pokes at hiredis structs directly. */

static inline int CHiredis_contextError(const redisContext *c) { return c->err; }
static inline const char *CHiredis_contextErrorString(const redisContext *c) { return c->errstr; }
static inline int CHiredis_contextFD(const redisContext *c) { return c->fd; }

static inline int CHiredis_replyType(const redisReply *r) { return r->type; }
static inline long long CHiredis_replyInteger(const redisReply *r) { return r->integer; }
static inline const char *CHiredis_replyString(const redisReply *r) { return r->str; }
static inline size_t CHiredis_replyLength(const redisReply *r) { return (size_t)r->len; }
static inline size_t CHiredis_replyElementCount(const redisReply *r) { return r->elements; }
static inline const redisReply *CHiredis_replyElement(const redisReply *r, size_t i) { return r->element[i]; }

/* Ignores SIGPIPE so that writing to a dead socket is an error, not a killed process. */
static inline void CHiredis_ignoreSIGPIPE(void) { signal(SIGPIPE, SIG_IGN); }

#endif
