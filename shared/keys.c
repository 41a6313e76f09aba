/*  keys - see keys.h. */
#include "keys.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The value of "name = value" in a ZPL line (already past the indent):
   quotes removed, trailing blanks and comments cut. NULL if the line is
   not that setting. */
static char *zpl_setting(char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0)
        return NULL;
    char *v = line + n;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v != '=')
        return NULL;
    v++;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '"' || *v == '\'') {
        char *end = strchr(v + 1, *v);
        if (!end)
            return NULL;
        *end = '\0';
        return v + 1;
    }
    v[strcspn(v, " \t#")] = '\0';
    return v;
}

/* Read a key file in CZMQ's certificate format (ZPL): the "curve"
   section's public-key and, when sec is not NULL, secret-key, each 40
   characters of Z85. Parsed here rather than with zcert_load, which leaks
   on malformed files and first tries PATH_secret. */
static int read_cert(const char *path, unsigned char pub[MC_KEY_LEN], unsigned char *sec,
                     mc_err_t *err)
{
    char *text;
    size_t len;
    if (mc_read_file(path, 64 * 1024, &text, &len, err) != 0)
        return -1;
    bool in_curve = false, have_pub = false, have_sec = false, bad = strlen(text) != len;
    for (char *line = text, *next; !bad && line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (line[0] != ' ' && line[0] != '\t') {
            line[strcspn(line, " \t#")] = '\0';
            in_curve = strcmp(line, "curve") == 0;
            continue;
        }
        if (!in_curve)
            continue;
        line += strspn(line, " \t");
        char *v;
        if ((v = zpl_setting(line, "public-key"))) {
            bad = have_pub || mc_z85_key_decode(v, pub) != 0;
            have_pub = true;
        } else if (sec && (v = zpl_setting(line, "secret-key"))) {
            bad = have_sec || mc_z85_key_decode(v, sec) != 0;
            have_sec = true;
        }
    }
    sodium_memzero(text, len);
    free(text);
    static const unsigned char zero[MC_KEY_LEN];
    if (bad || !have_pub || (sec && !have_sec)) {
        mc_err_set(err, "%s: not a valid key file", path);
        return -1;
    }
    if (memcmp(pub, zero, MC_KEY_LEN) == 0) {
        mc_err_set(err, "%s: holds no public key", path);
        return -1;
    }
    return 0;
}

int mc_curve_load_public(const char *path, unsigned char pub[MC_KEY_LEN], mc_err_t *err)
{
    if (!exists(path)) {
        mc_err_set(err, "cannot read %s: %s", path, strerror(ENOENT));
        return -1;
    }
    return read_cert(path, pub, NULL, err);
}

int mc_curve_save_public(const char *path, const unsigned char pub[MC_KEY_LEN], const char *id,
                         mc_err_t *err)
{
    static const byte no_secret[MC_KEY_LEN];
    zcert_t *cert = zcert_new_from(pub, no_secret);
    if (id)
        zcert_set_meta(cert, "id", "%s", id);
    char tmp[PATH_MAX];
    if (mc_temp_path(tmp, sizeof tmp, path) != 0) {
        zcert_destroy(&cert);
        mc_err_set(err, "%s: path too long", path);
        return -1;
    }
    int rc = zcert_save_public(cert, tmp);
    zcert_destroy(&cert);
    if (rc != 0 || chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        mc_err_set(err, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int mc_curve_save(const char *dir, const char *name, const mc_curve_keys_t *keys, mc_err_t *err)
{
    char *pub_path = mc_sprintf("%s/%s.cert", dir, name);
    char *sec_path = mc_sprintf("%s/%s.cert_secret", dir, name);
    zcert_t *cert = zcert_new_from(keys->pub, keys->sec);
    mode_t old = umask(077);
    int rc = zcert_save(cert, pub_path); /* writes both files */
    umask(old);
    zcert_destroy(&cert);
    if (rc != 0 || chmod(sec_path, 0600) != 0 || chmod(pub_path, 0644) != 0) {
        mc_err_set(err, "cannot write %s: %s", sec_path, strerror(errno));
        rc = -1;
    }
    free(pub_path);
    free(sec_path);
    return rc;
}

int mc_sign_save(const char *dir, const char *name, const mc_sign_keys_t *keys, mc_err_t *err)
{
    char *pub_path = mc_sprintf("%s/%s.sign_pub", dir, name);
    char *sec_path = mc_sprintf("%s/%s.sign", dir, name);
    char sec_txt[82], pub_txt[42]; /* Z85 text, newline, NUL */
    zmq_z85_encode(sec_txt, keys->sec, sizeof keys->sec);
    zmq_z85_encode(pub_txt, keys->pub, sizeof keys->pub);
    strcat(sec_txt, "\n");
    strcat(pub_txt, "\n");
    int rc = mc_write_file(sec_path, sec_txt, strlen(sec_txt), 0600, err) != 0 ||
                     mc_write_file(pub_path, pub_txt, strlen(pub_txt), 0644, err) != 0
                 ? -1
                 : 0;
    sodium_memzero(sec_txt, sizeof sec_txt);
    free(pub_path);
    free(sec_path);
    return rc;
}

int mc_curve_load_or_create(const char *dir, const char *name, mc_curve_keys_t *keys, bool *created,
                            mc_err_t *err)
{
    char *pub_path = mc_sprintf("%s/%s.cert", dir, name);
    char *sec_path = mc_sprintf("%s/%s.cert_secret", dir, name);
    int rc = -1;
    *created = false;
    if (!exists(sec_path)) {
        mc_curve_keys_t fresh;
        crypto_box_keypair(fresh.pub, fresh.sec);
        int src = mc_curve_save(dir, name, &fresh, err);
        sodium_memzero(&fresh, sizeof fresh);
        if (src != 0)
            goto out;
        *created = true;
    }
    struct stat st;
    if (stat(sec_path, &st) == 0 && (st.st_mode & 077)) {
        mc_err_set(err, "%s is readable by others (mode %03o); chmod 600 it", sec_path,
                   (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (read_cert(sec_path, keys->pub, keys->sec, err) != 0)
        goto out;
    unsigned char check[MC_KEY_LEN];
    if (crypto_scalarmult_base(check, keys->sec) != 0 || memcmp(check, keys->pub, MC_KEY_LEN)) {
        mc_err_set(err, "%s: public and secret key do not belong together", sec_path);
        goto out;
    }
    rc = 0;
out:
    free(pub_path);
    free(sec_path);
    return rc;
}

int mc_sign_load_or_create(const char *dir, const char *name, mc_sign_keys_t *keys, bool *created,
                           mc_err_t *err)
{
    char *pub_path = mc_sprintf("%s/%s.sign_pub", dir, name);
    char *sec_path = mc_sprintf("%s/%s.sign", dir, name);
    char *text = NULL;
    int rc = -1;
    *created = false;
    if (!exists(sec_path)) {
        crypto_sign_keypair(keys->pub, keys->sec);
        if (mc_sign_save(dir, name, keys, err) != 0)
            goto out;
        *created = true;
    }
    struct stat st;
    if (stat(sec_path, &st) == 0 && (st.st_mode & 077)) {
        mc_err_set(err, "%s is readable by others (mode %03o); chmod 600 it", sec_path,
                   (unsigned)(st.st_mode & 0777));
        goto out;
    }
    size_t len;
    if (mc_read_file(sec_path, 1024, &text, &len, err) != 0)
        goto out;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (len != 80 || !zmq_z85_decode(keys->sec, text)) {
        mc_err_set(err, "%s: not a signing key", sec_path);
        goto out;
    }
    crypto_sign_ed25519_sk_to_pk(keys->pub, keys->sec);
    rc = 0;
out:
    free(text);
    free(pub_path);
    free(sec_path);
    return rc;
}

int mc_seal_key(mc_seal_key_t k, const unsigned char their_pub[MC_KEY_LEN],
                const unsigned char my_sec[MC_KEY_LEN])
{
    return crypto_box_beforenm(k, their_pub, my_sec);
}

/* Seal nonces: a random prefix drawn once per process and a counter, so
   that sealing makes no system call (randombytes_buf makes one each
   time). They never repeat: the counter does not within a process; a
   forked child draws a prefix of its own before its first seal
   (pthread_atfork; if that cannot be set up, every nonce is drawn whole);
   another process with the same keys (a master sharing them) has another
   128-bit random prefix. A copy of the process made without fork (a raw
   clone, a restored snapshot) would repeat nonces: no part of mctl makes
   one. */
#define NONCE_PREFIX (crypto_box_NONCEBYTES - 8)
static pthread_mutex_t nonce_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;
static unsigned char nonce_prefix[NONCE_PREFIX];
static uint64_t nonce_count;
static bool nonce_drawn;
static bool nonce_watched; /* the fork handlers are set */

static void nonce_lock_take(void)
{
    pthread_mutex_lock(&nonce_lock);
}

static void nonce_lock_give(void)
{
    pthread_mutex_unlock(&nonce_lock);
}

static void nonce_forked(void)
{
    nonce_drawn = false;
    pthread_mutex_unlock(&nonce_lock);
}

static void nonce_watch_forks(void)
{
    nonce_watched = pthread_atfork(nonce_lock_take, nonce_lock_give, nonce_forked) == 0;
}

static void next_nonce(unsigned char nonce[crypto_box_NONCEBYTES])
{
    pthread_once(&nonce_once, nonce_watch_forks);
    if (!nonce_watched) {
        randombytes_buf(nonce, crypto_box_NONCEBYTES);
        return;
    }
    pthread_mutex_lock(&nonce_lock);
    if (!nonce_drawn) {
        randombytes_buf(nonce_prefix, sizeof nonce_prefix);
        nonce_count = 0;
        nonce_drawn = true;
    }
    uint64_t n = nonce_count++;
    memcpy(nonce, nonce_prefix, NONCE_PREFIX);
    pthread_mutex_unlock(&nonce_lock);
    for (int i = 0; i < 8; i++)
        nonce[NONCE_PREFIX + i] = (unsigned char)(n >> (8 * i));
}

void mc_seal(const mc_seal_key_t k, const void *plain, size_t len, unsigned char *out)
{
    next_nonce(out);
    crypto_box_easy_afternm(out + crypto_box_NONCEBYTES, plain, len, out, k);
}

int mc_unseal(const mc_seal_key_t k, const void *sealed, size_t len, unsigned char *out)
{
    if (len < MC_SEAL_OVERHEAD)
        return -1;
    const unsigned char *s = sealed;
    return crypto_box_open_easy_afternm(out, s + crypto_box_NONCEBYTES, len - crypto_box_NONCEBYTES,
                                        s, k);
}
