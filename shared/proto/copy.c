/*  proto/copy - see copy.h. */
#include "copy.h"

#include <stdlib.h>
#include <string.h>

void mc_cp_manifest_pack(msgpack_packer *pk, const mc_cp_manifest_t *m)
{
    msgpack_pack_map(pk, 5);
    mc_pk_kv_str(pk, "dest", m->dest);
    mc_pk_kv_bool(pk, "into", m->into);
    mc_pk_kv_int(pk, "mode", m->mode);
    mc_pk_kv_str(pk, "owner", m->owner);
    mc_pk_str(pk, "files");
    msgpack_pack_array(pk, m->count);
    for (size_t i = 0; i < m->count; i++) {
        const mc_cp_file_t *f = &m->files[i];
        msgpack_pack_array(pk, 5);
        mc_pk_str(pk, f->name);
        msgpack_pack_uint64(pk, f->size);
        msgpack_pack_uint32(pk, f->mode);
        if (f->dir)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        mc_pk_bin(pk, f->hash, f->dir ? 0 : MC_CP_HASH_LEN);
    }
}

bool mc_cp_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MC_CP_PATH_MAX || name[0] == '/')
        return false;
    /* No control character: a name is one line of the minion's record. */
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    const char *p = name, *end = name + len;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        size_t n = (size_t)(stop - p);
        if (n == 0 || n > 255 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!slash)
            break;
        p = slash + 1;
    }
    return true;
}

bool mc_cp_dest_valid(const char *dest)
{
    size_t len = strlen(dest);
    if (dest[0] != '/' || len > MC_CP_PATH_MAX)
        return false;
    if (len == 1)
        return true;
    /* What follows the root is a relative name (a trailing '/' allowed). */
    size_t n = len - 1 - (dest[len - 1] == '/');
    return n > 0 && mc_cp_name_valid(dest + 1, n);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int decode_file(const msgpack_object *o, size_t i, mc_cp_file_t *f, mc_err_t *err)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 5) {
        mc_err_set(err, "copy file %zu is not [name, size, mode, dir, hash]", i);
        return -1;
    }
    const msgpack_object *a = o->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_STR || !mc_cp_name_valid(a[0].via.str.ptr, a[0].via.str.size) ||
        !mc_utf8_valid(a[0].via.str.ptr, a[0].via.str.size)) {
        mc_err_set(err, "copy file %zu: the name is not a relative path without '..'", i);
        return -1;
    }
    if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 > MC_CP_FILE_SIZE_MAX ||
        a[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[2].via.u64 > 07777 ||
        a[3].type != MSGPACK_OBJECT_BOOLEAN || a[4].type != MSGPACK_OBJECT_BIN) {
        mc_err_set(err, "copy file %zu: size, mode, dir or hash of the wrong type or range", i);
        return -1;
    }
    f->dir = a[3].via.boolean;
    if (a[4].via.bin.size != (f->dir ? 0 : MC_CP_HASH_LEN) || (f->dir && a[1].via.u64 != 0)) {
        mc_err_set(err, "copy file %zu: a directory with a size or hash, or a bad hash", i);
        return -1;
    }
    f->name = mc_malloc(a[0].via.str.size + 1);
    memcpy(f->name, a[0].via.str.ptr, a[0].via.str.size);
    f->name[a[0].via.str.size] = '\0';
    f->size = a[1].via.u64;
    f->mode = (uint32_t)a[2].via.u64;
    if (!f->dir)
        memcpy(f->hash, a[4].via.bin.ptr, MC_CP_HASH_LEN);
    return 0;
}

int mc_cp_manifest_decode(const msgpack_object *map, const char *key, mc_cp_manifest_t *m,
                          mc_err_t *err)
{
    memset(m, 0, sizeof *m);
    const msgpack_object *c, *files;
    int64_t mode;
    if (mc_mp_map(map, key, false, 16, &c, err) ||
        mc_mp_strdup(c, "dest", MC_CP_PATH_MAX, &m->dest, err))
        return -1;
    if (mc_mp_bool(c, "into", &m->into, err) || mc_mp_int(c, "mode", -1, 07777, &mode, err) ||
        mc_mp_str(c, "owner", m->owner, sizeof m->owner, err) ||
        mc_mp_array(c, "files", false, MC_CP_FILES_MAX, &files, err))
        goto fail;
    m->mode = (int32_t)mode;
    if (!mc_cp_dest_valid(m->dest)) {
        mc_err_set(err, "copy destination '%s' is not an absolute path without '.', '..' or '//'",
                   m->dest);
        goto fail;
    }
    if (files->via.array.size == 0) {
        mc_err_set(err, "copy has no files");
        goto fail;
    }
    if (!m->into && files->via.array.size != 1) {
        mc_err_set(err, "a copy to a file path (not into a directory) has exactly one file");
        goto fail;
    }
    m->files = mc_calloc(files->via.array.size, sizeof *m->files);
    for (uint32_t i = 0; i < files->via.array.size; i++) {
        if (decode_file(&files->via.array.ptr[i], i, &m->files[i], err) != 0)
            goto fail;
        m->count++;
        m->bytes += m->files[i].size;
        if (!m->into && (m->files[i].dir || strchr(m->files[i].name, '/'))) {
            mc_err_set(err, "a copy to a file path carries one plain file name");
            goto fail;
        }
    }
    /* Each name once: a second would replace the first unseen. */
    const char **names = mc_calloc(m->count, sizeof *names);
    for (size_t i = 0; i < m->count; i++)
        names[i] = m->files[i].name;
    qsort(names, m->count, sizeof *names, name_cmp);
    for (size_t i = 1; i < m->count; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            mc_err_set(err, "copy names '%s' twice", names[i]);
            free(names);
            goto fail;
        }
    }
    free(names);
    return 0;
fail:
    mc_cp_manifest_free(m);
    return -1;
}

void mc_cp_manifest_free(mc_cp_manifest_t *m)
{
    for (size_t i = 0; i < m->count; i++)
        free(m->files[i].name);
    free(m->files);
    free(m->dest);
    memset(m, 0, sizeof *m);
}
