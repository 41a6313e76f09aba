/*  log - levelled log lines to stderr or a file.

    One line per event: "2026-11-22 15:30:12.123 [mctl-master:1234] info: ...".
    A daemon calls mc_log_open() once at start and mc_log_reopen() on SIGHUP
    so that log rotation works. */
#ifndef MC_LOG_H
#define MC_LOG_H

#include "util.h"

typedef enum { MC_LOG_ERROR, MC_LOG_WARNING, MC_LOG_INFO, MC_LOG_DEBUG } mc_log_level_t;

int mc_log_open(const char *ident, mc_log_level_t level, const char *file, mc_err_t *err);
void mc_log_reopen(void);
/* In a forked child that closed the inherited descriptors. */
void mc_log_after_fork(void);
void mc_log_close(void);
bool mc_log_enabled(mc_log_level_t level);
void mc_log(mc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mc_log_level_parse(const char *name, mc_log_level_t *out);

#define mc_error(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)
#define mc_warn(...)  mc_log(MC_LOG_WARNING, __VA_ARGS__)
#define mc_info(...)  mc_log(MC_LOG_INFO, __VA_ARGS__)
#define mc_debug(...)                                                                              \
    do {                                                                                           \
        if (mc_log_enabled(MC_LOG_DEBUG))                                                          \
            mc_log(MC_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
