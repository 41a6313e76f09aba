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
/* Error lines also go to fd as "E message\n" (-1: no more); for a
   daemon's parent waiting to hear whether it started. */
void mc_log_tee_errors(int fd);
void mc_log_close(void);
bool mc_log_enabled(mc_log_level_t level);
void mc_log(mc_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mc_log_level_parse(const char *name, mc_log_level_t *out);

/* For lines a peer can cause at will (a hostile minion's messages, a flood
   of registrations): at most MC_LOG_LIMIT_BURST lines per window for each
   limiter, then one line that counts what was left out. A limiter starts
   zeroed and lives as long as what it limits. */
#define MC_LOG_LIMIT_BURST     20
#define MC_LOG_LIMIT_WINDOW_MS 10000
typedef struct {
    int64_t window_start_ms;
    int count;
    long left_out;
} mc_log_limit_t;
void mc_log_limited(mc_log_limit_t *lim, mc_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mc_error(...) mc_log(MC_LOG_ERROR, __VA_ARGS__)
#define mc_warn(...)  mc_log(MC_LOG_WARNING, __VA_ARGS__)
#define mc_info(...)  mc_log(MC_LOG_INFO, __VA_ARGS__)
#define mc_debug(...)                                                                              \
    do {                                                                                           \
        if (mc_log_enabled(MC_LOG_DEBUG))                                                          \
            mc_log(MC_LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)

#endif
