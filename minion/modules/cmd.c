/*  cmd - run shell commands: cmd.run, cmd.run_all, cmd.retcode.

    The command the user asked for is the one string that reaches a shell:
    /bin/sh -c CMD, started with posix_spawn (cheap from any process size)
    in its own process group, stdin from /dev/null, stdout and stderr on
    separate pipes. A plain command (words of letters, digits and
    _-./,:+@%= only, no shell word first) is what the shell would run as
    it stands, so it is started directly, without the shell's start-up
    (about 3 ms a job); if that fails to start, the shell runs it after all
    and reports the error as it would have. The output of each stream is kept up to output_max
    bytes (the rest is read and dropped, and the return says truncated).
    When the time limit (the job's, or timeout= if shorter) passes, the
    whole group gets SIGTERM, then SIGKILL two seconds later. When the
    shell exits but something it started in the background still holds
    the pipes, we stop reading a second later rather than wait for it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "module.h"
#include "mp.h"

extern char **environ;

#define KILL_GRACE_MS   2000
#define DETACH_GRACE_MS 1000

typedef struct {
    int status; /* wait status, valid when !failed */
    bool timed_out;
    bool killed; /* cancelled: jobs.kill, or the minion shutting down */
    bool failed;
    pid_t pid;
} run_result_t;

static void keep_output(mc_call_t *call, mc_buf_t *b, const char *data, size_t n)
{
    size_t room = b->len < (size_t)call->output_max ? (size_t)call->output_max - b->len : 0;
    if (n > room) {
        call->truncated = true;
        n = room;
    }
    mc_buf_append(b, data, n);
}

/* Words the shell gives a meaning of its own: reserved words and
   builtins, some of which also exist as programs that behave differently. */
static const char *const shell_words[] = {
    ".",        ":",      "[",     "alias",   "bg",    "break",  "case",  "cd",      "command",
    "continue", "do",     "done",  "echo",    "elif",  "else",   "esac",  "eval",    "exec",
    "exit",     "export", "false", "fc",      "fg",    "fi",     "for",   "getopts", "hash",
    "if",       "in",     "jobs",  "kill",    "local", "printf", "pwd",   "read",    "readonly",
    "return",   "set",    "shift", "source",  "test",  "then",   "times", "trap",    "true",
    "type",     "ulimit", "umask", "unalias", "unset", "until",  "wait",  "while",   NULL};

/* Split cmd into argv when the shell would run it unchanged: words made
   only of characters no shell treats specially, the first one neither a
   shell word nor an assignment. NULL otherwise (the shell runs it). */
char **cmd_plain_words(const char *cmd)
{
    size_t words = 0;
    bool in_word = false;
    for (const char *p = cmd; *p; p++) {
        char c = *p;
        if (c == ' ' || c == '\t') {
            in_word = false;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("_-./,:+@%=", c)))
            return NULL;
        if (!in_word)
            words++;
        in_word = true;
    }
    if (words == 0)
        return NULL;
    char **argv = mc_calloc(words + 2, sizeof *argv); /* the copy lives past the NULL */
    char *copy = mc_strdup(cmd);
    size_t n = 0;
    for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
        argv[n++] = w;
    bool plain = !strchr(argv[0], '=');
    for (size_t i = 0; plain && shell_words[i]; i++)
        if (strcmp(argv[0], shell_words[i]) == 0)
            plain = false;
    if (!plain) {
        free(copy);
        free(argv);
        return NULL;
    }
    argv[words + 1] = copy;
    return argv;
}

void cmd_free_words(char **argv)
{
    if (argv) {
        size_t n = 0;
        while (argv[n])
            n++;
        free(argv[n + 1]);
        free(argv);
    }
}

/* Start cmd (through the shell unless plain), or argv when given (never
   a shell), with env as its environment. */
static int spawn_shell(mc_call_t *call, const char *cmd, char *const argv[], char *const env[],
                       const char *cwd, int out[2], int err[2], pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    if (cwd)
        posix_spawn_file_actions_addchdir_np(&fa, cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    int rc;
    if (argv) {
        rc = posix_spawnp(pid, argv[0], &fa, &attr, argv, env);
    } else {
        char **words = cmd_plain_words(cmd);
        rc = words ? posix_spawnp(pid, words[0], &fa, &attr, words, env) : -1;
        cmd_free_words(words);
        if (rc != 0) {
            char *sh[] = {"/bin/sh", "-c", (char *)cmd, NULL};
            rc = posix_spawn(pid, "/bin/sh", &fa, &attr, sh, env);
        }
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        mc_call_fail(call, 127, "cannot start %s: %s", argv ? argv[0] : "/bin/sh", strerror(rc));
    return rc == 0 ? 0 : -1;
}

static run_result_t run_shell(mc_call_t *call, const char *cmd, char *const argv[],
                              char *const env[], const char *cwd, int64_t timeout_s)
{
    run_result_t r = {0};
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        mc_call_fail(call, 1, "cannot create pipes: %s", strerror(errno));
        r.failed = true;
        return r;
    }
    if (spawn_shell(call, cmd, argv, env, cwd, out, err, &r.pid) != 0) {
        close(out[0]), close(out[1]), close(err[0]), close(err[1]);
        r.failed = true;
        return r;
    }
    close(out[1]);
    close(err[1]);

    int64_t now = mc_mono_ms();
    int64_t deadline = now + timeout_s * 1000, kill_at = -1, detach_at = -1;
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    mc_buf_t *bufs[2] = {&call->out, &call->err};
    bool exited = false;
    char chunk[65536];

    while (fds[0].fd >= 0 || fds[1].fd >= 0 || !exited) {
        now = mc_mono_ms();
        if (!r.timed_out && !r.killed && (now >= deadline || mc_call_cancelled)) {
            if (mc_call_cancelled)
                r.killed = true;
            else
                r.timed_out = true;
            kill(-r.pid, SIGTERM);
            kill_at = now + KILL_GRACE_MS;
        }
        if (kill_at >= 0 && now >= kill_at) {
            kill(-r.pid, SIGKILL);
            kill_at = -1;
        }
        if (!exited && waitpid(r.pid, &r.status, WNOHANG) == r.pid) {
            exited = true;
            detach_at = now + DETACH_GRACE_MS;
        }
        if (exited && (fds[0].fd < 0 && fds[1].fd < 0))
            break;
        if (exited && now >= detach_at)
            break; /* background children keep the pipes; leave them be */
        bool stopping = r.timed_out || r.killed;
        int64_t next = stopping ? (kill_at >= 0 ? kill_at : now + 100) : deadline;
        if (exited && detach_at < next)
            next = detach_at;
        int wait_ms = (int)(next - now);
        if (!exited && wait_ms > 50)
            wait_ms = 50; /* notice the shell's exit soon after it happens */
        if (fds[0].fd < 0 && fds[1].fd < 0 && !exited) {
            waitpid(r.pid, &r.status, 0);
            exited = true;
            break;
        }
        int n = poll(fds, 2, wait_ms < 0 ? 0 : wait_ms);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; n > 0 && i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got > 0) {
                keep_output(call, bufs[i], chunk, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (!exited)
        waitpid(r.pid, &r.status, 0);
    return r;
}

static int exit_code(const run_result_t *r)
{
    if (r->timed_out)
        return 124;
    if (r->killed)
        return 143;
    if (WIFEXITED(r->status))
        return WEXITSTATUS(r->status);
    if (WIFSIGNALED(r->status))
        return 128 + WTERMSIG(r->status);
    return 1;
}

static void strip_trailing_space(mc_buf_t *b)
{
    while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
                          b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
        b->data[--b->len] = '\0';
}

/* Parse cmd, cwd= and timeout=, then run. Returns -1 when the call has
   already failed. */
static int run_command(mc_call_t *call, run_result_t *r)
{
    char *cmd = NULL, *cwd = NULL;
    int64_t timeout = call->timeout_s;
    int rc = mc_call_str(call, 0, "cmd", &cmd);
    if (rc != 0) {
        if (rc > 0)
            mc_call_fail(call, 1, "%s: missing argument 'cmd' (the command to run)", call->fun);
        return -1;
    }
    if (mc_call_max_args(call, 1) != 0 || mc_call_str(call, -1, "cwd", &cwd) < 0 ||
        mc_call_int(call, -1, "timeout", 1, 365LL * 86400, &timeout) < 0) {
        free(cmd);
        free(cwd);
        return -1;
    }
    if (timeout > call->timeout_s)
        timeout = call->timeout_s;
    const char *home = getenv("HOME");
    *r = run_shell(call, cmd, NULL, environ, cwd ? cwd : (home && *home ? home : "/"), timeout);
    if (!r->failed && (r->timed_out || r->killed)) {
        char note[128];
        int n = r->killed
                    ? snprintf(note, sizeof note, "%smctl: killed on request; process group killed",
                               call->err.len ? "\n" : "")
                    : snprintf(note, sizeof note,
                               "%smctl: timed out after %lld s; process group killed",
                               call->err.len ? "\n" : "", (long long)timeout);
        mc_buf_append(&call->err, note, (size_t)n);
    }
    free(cmd);
    free(cwd);
    return r->failed ? -1 : 0;
}

int cmd_exec(mc_call_t *call, char *const argv[], const char *const env_add[])
{
    /* The minion's environment, with env_add's NAME=VALUE in front. */
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    while (env_add && env_add[extra])
        extra++;
    char **env = mc_calloc(n + extra + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < extra; i++)
        env[k++] = (char *)env_add[i];
    /* The minion's own, but for the names env_add sets. */
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (size_t j = 0; j < extra && !replaced; j++) {
            size_t len = strcspn(env_add[j], "=");
            replaced = strncmp(environ[i], env_add[j], len) == 0 && environ[i][len] == '=';
        }
        if (!replaced)
            env[k++] = environ[i];
    }
    run_result_t r = run_shell(call, NULL, argv, env, "/", call->timeout_s);
    free(env);
    if (r.failed)
        return -1;
    return exit_code(&r);
}

static void cmd_run(mc_call_t *call)
{
    run_result_t r;
    if (run_command(call, &r) != 0)
        return;
    call->retcode = exit_code(&r);
    call->success = call->retcode == 0;
    /* Like Salt's cmd.run: the return is the output, stderr after stdout,
       trailing white space removed; the streams stay apart in the return's
       stdout and stderr fields. */
    mc_buf_t text = {0};
    mc_buf_append(&text, call->out.data ? call->out.data : "", call->out.len);
    strip_trailing_space(&text);
    if (call->err.len) {
        if (text.len)
            mc_buf_append(&text, "\n", 1);
        mc_buf_append(&text, call->err.data, call->err.len);
        strip_trailing_space(&text);
    }
    mc_pk_text(call->pk, text.data ? text.data : "", text.len);
    mc_buf_free(&text);
}

static void cmd_run_all(mc_call_t *call)
{
    run_result_t r;
    if (run_command(call, &r) != 0)
        return;
    call->retcode = exit_code(&r);
    call->success = call->retcode == 0;
    mc_buf_t out = {0}, err = {0};
    mc_buf_append(&out, call->out.data ? call->out.data : "", call->out.len);
    mc_buf_append(&err, call->err.data ? call->err.data : "", call->err.len);
    strip_trailing_space(&out);
    strip_trailing_space(&err);
    msgpack_pack_map(call->pk, 4);
    mc_pk_kv_int(call->pk, "pid", r.pid);
    mc_pk_kv_int(call->pk, "retcode", call->retcode);
    mc_pk_str(call->pk, "stdout");
    mc_pk_text(call->pk, out.data, out.len);
    mc_pk_str(call->pk, "stderr");
    mc_pk_text(call->pk, err.data, err.len);
    mc_buf_free(&out);
    mc_buf_free(&err);
}

static void cmd_retcode(mc_call_t *call)
{
    run_result_t r;
    if (run_command(call, &r) != 0)
        return;
    call->retcode = exit_code(&r);
    call->success = !r.timed_out && !r.killed;
    msgpack_pack_int(call->pk, call->retcode);
}

static const mc_function_t functions[] = {
    {"run", cmd_run,
     "Run CMD with /bin/sh and return its output (stdout, then stderr).\n"
     "The job fails when the command exits non-zero.\n"
     "Keyword arguments: cwd=DIR, timeout=SECONDS.\n\n"
     "    mctl '*' cmd.run 'uptime'",
     0},
    {"run_all", cmd_run_all,
     "Run CMD with /bin/sh and return pid, retcode, stdout and stderr.\n"
     "Keyword arguments: cwd=DIR, timeout=SECONDS.\n\n"
     "    mctl '*' cmd.run_all 'ls /nonexistent'",
     0},
    {"retcode", cmd_retcode,
     "Run CMD with /bin/sh and return only its exit code.\n"
     "Keyword arguments: cwd=DIR, timeout=SECONDS.\n\n"
     "    mctl '*' cmd.retcode 'test -f /etc/motd'",
     0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_cmd = {"cmd", functions};
