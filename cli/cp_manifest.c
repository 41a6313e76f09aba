/*  cp_manifest - what mctl cp copies, read once before the copy: the
    sources, each directory walked (with -r; below it only files and
    directories, a symbolic link or a device skipped with a warning), and
    each file's size, mode and BLAKE2b-256 hash, with what it was when
    hashed (so that a file that changes before it is sent is caught). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cp.h"

static void add_entry(sources_t *s, const char *name, const char *path, const struct stat *st)
{
    if (s->m.count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->m.files = mc_realloc(s->m.files, s->cap * sizeof *s->m.files);
        s->paths = mc_realloc(s->paths, s->cap * sizeof *s->paths);
        s->seen = mc_realloc(s->seen, s->cap * sizeof *s->seen);
    }
    mc_cp_file_t *f = &s->m.files[s->m.count];
    memset(f, 0, sizeof *f);
    f->name = mc_strdup(name);
    f->dir = S_ISDIR(st->st_mode);
    f->size = f->dir ? 0 : (uint64_t)st->st_size;
    f->mode = st->st_mode & 07777;
    s->paths[s->m.count++] = mc_strdup(path);
}

void cp_sources_free(sources_t *s)
{
    for (size_t i = 0; i < s->m.count; i++)
        free(s->paths[i]);
    free(s->paths);
    free(s->seen);
    mc_cp_manifest_free(&s->m);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory's entries, in name order (the same manifest every run). */
static int walk(sources_t *s, const char *name, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "mctl: %s: %s\n", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = mc_realloc(names, cap * sizeof *names);
        }
        names[n++] = mc_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *sub = mc_sprintf("%s/%s", path, names[i]);
        char *subname = mc_sprintf("%s/%s", name, names[i]);
        struct stat st;
        if (lstat(sub, &st) != 0) {
            fprintf(stderr, "mctl: %s: %s\n", sub, strerror(errno));
            rc = EXIT_NOINPUT;
        } else if (strlen(subname) > MC_CP_PATH_MAX) {
            fprintf(stderr, "mctl: %s: path too long\n", sub);
            rc = EXIT_NOINPUT;
        } else if (S_ISDIR(st.st_mode)) {
            add_entry(s, subname, sub, &st);
            rc = walk(s, subname, sub);
        } else if (S_ISREG(st.st_mode)) {
            add_entry(s, subname, sub, &st);
        } else {
            fprintf(stderr, "mctl: skipping %s: %s\n", sub,
                    S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
        }
        free(sub);
        free(subname);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* A file's BLAKE2b-256, read as it is now, and its state then (seen). */
static int hash_file(const char *path, uint64_t size, unsigned char out[MC_CP_HASH_LEN],
                     struct stat *seen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mctl: %s: %s\n", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, MC_CP_HASH_LEN);
    static unsigned char buf[1 << 20];
    uint64_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        crypto_generichash_update(&h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    int e = errno;
    if (fstat(fd, seen) != 0)
        memset(seen, 0, sizeof *seen);
    close(fd);
    if (n < 0) {
        fprintf(stderr, "mctl: %s: %s\n", path, strerror(e));
        return EXIT_NOINPUT;
    }
    if (total != size) {
        fprintf(stderr, "mctl: %s changed while being read\n", path);
        return EXIT_FAILED;
    }
    crypto_generichash_final(&h, out, MC_CP_HASH_LEN);
    return 0;
}

static const char *base_name(const char *path, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", path);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

int cp_sources_read(const cli_opts_t *o, sources_t *s, int nsrc, char **src, const char *dest)
{
    s->m.dest = mc_strdup(dest);
    s->m.mode = o->cp_mode;
    snprintf(s->m.owner, sizeof s->m.owner, "%s", o->cp_owner ? o->cp_owner : "");
    bool any_dir = false;
    for (int i = 0; i < nsrc; i++) {
        struct stat st;
        if (stat(src[i], &st) != 0) {
            fprintf(stderr, "mctl: %s: %s\n", src[i], strerror(errno));
            return EXIT_NOINPUT;
        }
        char buf[4096];
        const char *name = base_name(src[i], buf, sizeof buf);
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "/") == 0) {
            fprintf(stderr, "mctl: %s: name the directory itself (its name goes to DEST)\n",
                    src[i]);
            return EXIT_USAGE;
        }
        for (size_t k = 0; k < s->m.count; k++) {
            if (strcmp(s->m.files[k].name, name) == 0) {
                fprintf(stderr, "mctl: two sources would both be %s/%s\n", dest, name);
                return EXIT_USAGE;
            }
        }
        if (S_ISDIR(st.st_mode)) {
            if (!o->recursive) {
                fprintf(stderr, "mctl: %s is a directory (use -r to copy it)\n", src[i]);
                return EXIT_USAGE;
            }
            any_dir = true;
            add_entry(s, name, src[i], &st);
            int rc = walk(s, name, src[i]);
            if (rc)
                return rc;
        } else if (S_ISREG(st.st_mode)) {
            add_entry(s, name, src[i], &st);
        } else {
            fprintf(stderr, "mctl: %s is not a regular file or a directory\n", src[i]);
            return EXIT_USAGE;
        }
    }
    s->m.into = nsrc > 1 || any_dir || dest[strlen(dest) - 1] == '/';
    if (s->m.count > MC_CP_FILES_MAX) {
        fprintf(stderr, "mctl: %zu files and directories: at most %d in one copy\n", s->m.count,
                MC_CP_FILES_MAX);
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < s->m.count; i++) {
        mc_cp_file_t *f = &s->m.files[i];
        if (f->size > MC_CP_FILE_SIZE_MAX) {
            fprintf(stderr, "mctl: %s: larger than a copy takes\n", s->paths[i]);
            return EXIT_USAGE;
        }
        s->m.bytes += f->size;
        if (!f->dir) {
            int rc = hash_file(s->paths[i], f->size, f->hash, &s->seen[i]);
            if (rc)
                return rc;
        }
    }
    return 0;
}
