/*  keyexport - see keyexport.h. The file:

        # mctl master keys ...
        curve-secret: <40 characters of Z85>
        sign-secret: <80 characters of Z85>

    The public keys follow from the secret ones. */
#include "keyexport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"

#define BUNDLE_MAX 4096

/* Run as root for a master that runs as its own user: the key files
   belong to pki_dir's owner, as the master would have made them. */
static int own_like_dir(const char *pki_dir, mc_err_t *err)
{
    struct stat st;
    if (geteuid() != 0 || stat(pki_dir, &st) != 0 || st.st_uid == 0)
        return 0;
    static const char *const names[] = {"master.cert", "master.cert_secret", "master.sign",
                                        "master.sign_pub"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *path = mc_sprintf("%s/%s", pki_dir, names[i]);
        int rc = chown(path, st.st_uid, st.st_gid);
        if (rc != 0)
            mc_err_set(err, "cannot give %s to the owner of %s: %s", path, pki_dir,
                       strerror(errno));
        free(path);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int load_keys(const char *pki_dir, mc_curve_keys_t *curve, mc_sign_keys_t *sign,
                     mc_err_t *err)
{
    bool created;
    if (mc_mkdir_p(pki_dir, 0700, err) != 0 || mc_check_private_dir(pki_dir, err) != 0 ||
        mc_curve_load_or_create(pki_dir, "master", curve, &created, err) != 0 ||
        mc_sign_load_or_create(pki_dir, "master", sign, &created, err) != 0)
        return -1;
    return 0;
}

int keyexport_write(const char *pki_dir, const char *path, mc_err_t *err)
{
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    if (load_keys(pki_dir, &curve, &sign, err) != 0 || own_like_dir(pki_dir, err) != 0)
        return -1;
    char c[MC_Z85_KEY_LEN + 1], s[crypto_sign_SECRETKEYBYTES * 5 / 4 + 1];
    zmq_z85_encode(c, curve.sec, sizeof curve.sec);
    zmq_z85_encode(s, sign.sec, sizeof sign.sec);
    char finger[MC_FINGERPRINT_LEN];
    mc_fingerprint(curve.pub, finger);
    char *text = mc_sprintf("# mctl master keys (master key %s). SECRET: whoever holds this\n"
                            "# file can command every minion of these masters. Install with\n"
                            "# mctl-master --import-keys FILE, then delete it.\n"
                            "curve-secret: %s\n"
                            "sign-secret: %s\n",
                            finger, c, s);
    sodium_memzero(&curve, sizeof curve);
    sodium_memzero(&sign, sizeof sign);
    sodium_memzero(c, sizeof c);
    sodium_memzero(s, sizeof s);
    int rc = 0;
    size_t len = strlen(text);
    if (strcmp(path, "-") == 0) {
        rc = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
        if (rc != 0)
            mc_err_set(err, "cannot write to standard output: %s", strerror(errno));
    } else {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            mc_err_set(err, "cannot create %s: %s%s", path, strerror(errno),
                       errno == EEXIST ? " (it is never overwritten)" : "");
            rc = -1;
        } else if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
            mc_err_set(err, "cannot write %s: %s", path, strerror(errno));
            unlink(path);
            rc = -1;
        }
        if (fd >= 0)
            close(fd);
    }
    sodium_memzero(text, len);
    free(text);
    return rc;
}

/* The value of "name: value" on a line, or NULL. */
static const char *field(char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    line += n + 1;
    line += strspn(line, " \t");
    line[strcspn(line, " \t\r")] = '\0';
    return line;
}

static int parse(char *text, mc_curve_keys_t *curve, mc_sign_keys_t *sign, const char *path,
                 mc_err_t *err)
{
    bool have_c = false, have_s = false;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        const char *v;
        if ((v = field(line, "curve-secret"))) {
            if (have_c || strlen(v) != MC_Z85_KEY_LEN || !zmq_z85_decode(curve->sec, v))
                goto bad;
            have_c = true;
        } else if ((v = field(line, "sign-secret"))) {
            if (have_s || strlen(v) != crypto_sign_SECRETKEYBYTES * 5 / 4 ||
                !zmq_z85_decode(sign->sec, v))
                goto bad;
            have_s = true;
        } else if (line[0] != '#' && line[strspn(line, " \t\r")] != '\0') {
            goto bad;
        }
    }
    if (!have_c || !have_s)
        goto bad;
    crypto_scalarmult_base(curve->pub, curve->sec);
    crypto_sign_ed25519_sk_to_pk(sign->pub, sign->sec);
    /* An Ed25519 secret key carries its public half: they must agree. */
    if (memcmp(sign->pub, sign->sec + 32, 32) != 0)
        goto bad;
    return 0;
bad:
    mc_err_set(err, "%s: not an mctl master key file (from mctl-master --export-keys)", path);
    return -1;
}

int keyexport_read(const char *pki_dir, const char *path, bool *same, mc_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    mc_curve_keys_t curve;
    mc_sign_keys_t sign;
    sodium_memzero(&curve, sizeof curve);
    sodium_memzero(&sign, sizeof sign);
    *same = false;
    if (strcmp(path, "-") == 0) {
        text = mc_malloc(BUNDLE_MAX + 1);
        len = fread(text, 1, BUNDLE_MAX + 1, stdin);
        if (len > BUNDLE_MAX) {
            mc_err_set(err, "standard input: too long for a key file");
            goto fail;
        }
        text[len] = '\0';
    } else if (mc_read_file(path, BUNDLE_MAX, &text, &len, err) != 0) {
        return -1;
    }
    if (strlen(text) != len) {
        mc_err_set(err, "%s: not an mctl master key file", path);
        goto fail;
    }
    if (parse(text, &curve, &sign, path, err) != 0)
        goto fail;
    if (mc_mkdir_p(pki_dir, 0700, err) != 0 || mc_check_private_dir(pki_dir, err) != 0)
        goto fail;
    char *sec_path = mc_sprintf("%s/master.cert_secret", pki_dir);
    char *sign_path = mc_sprintf("%s/master.sign", pki_dir);
    struct stat st;
    bool have_c = stat(sec_path, &st) == 0, have_s = stat(sign_path, &st) == 0;
    free(sec_path);
    free(sign_path);
    if (have_c != have_s) {
        mc_err_set(err,
                   "%s holds half a master key set (master.cert_secret or master.sign "
                   "alone); move it away first",
                   pki_dir);
        goto fail;
    }
    if (have_c) {
        mc_curve_keys_t old_c;
        mc_sign_keys_t old_s;
        if (load_keys(pki_dir, &old_c, &old_s, err) != 0)
            goto fail;
        *same =
            memcmp(&old_c, &curve, sizeof curve) == 0 && memcmp(&old_s, &sign, sizeof sign) == 0;
        sodium_memzero(&old_c, sizeof old_c);
        sodium_memzero(&old_s, sizeof old_s);
        if (!*same) {
            mc_err_set(err,
                       "%s holds other master keys already; move %s/master.cert* and "
                       "%s/master.sign* away first (minions pinned to them will no longer "
                       "trust this master)",
                       pki_dir, pki_dir, pki_dir);
            goto fail;
        }
    } else if (mc_curve_save(pki_dir, "master", &curve, err) != 0 ||
               mc_sign_save(pki_dir, "master", &sign, err) != 0 ||
               own_like_dir(pki_dir, err) != 0) {
        goto fail;
    }
    sodium_memzero(&curve, sizeof curve);
    sodium_memzero(&sign, sizeof sign);
    sodium_memzero(text, len);
    free(text);
    return 0;
fail:
    sodium_memzero(&curve, sizeof curve);
    sodium_memzero(&sign, sizeof sign);
    if (text)
        sodium_memzero(text, len);
    free(text);
    return -1;
}
