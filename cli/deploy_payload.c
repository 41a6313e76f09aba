/*  deploy_payload - what mctl deploy installs: the minion binary (its
    checksum, architecture and version mark) or a package, and each host's
    minion config. */
#include "deploy.h"

/* ---- what gets installed ------------------------------------------------- */

void deploy_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    for (size_t i = 0; i < sizeof h; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* The architecture an ELF file is built for, as `uname -m` names it. */
static int elf_arch(const unsigned char *data, size_t len, char *out, size_t outlen)
{
    if (len < sizeof(Elf64_Ehdr) || memcmp(data, ELFMAG, SELFMAG) != 0)
        return -1;
    uint16_t machine;
    memcpy(&machine, data + offsetof(Elf64_Ehdr, e_machine), sizeof machine);
    const char *name;
    switch (machine) {
    case EM_X86_64:
        name = "x86_64";
        break;
    case EM_AARCH64:
        name = "aarch64";
        break;
    case EM_386:
        name = "i686";
        break;
    case EM_ARM:
        name = "armv7l";
        break;
    case EM_RISCV:
        name = "riscv64";
        break;
    case EM_PPC64:
        name = "ppc64le";
        break;
    case EM_S390:
        name = "s390x";
        break;
    default:
        return -1;
    }
    snprintf(out, outlen, "%s", name);
    return 0;
}

bool deploy_arch_compatible(const char *binary, const char *host)
{
    if (strcmp(binary, host) == 0)
        return true;
    if (strcmp(binary, "i686") == 0)
        return strlen(host) == 4 && host[0] == 'i' && strcmp(host + 2, "86") == 0;
    if (strcmp(binary, "armv7l") == 0)
        return strncmp(host, "armv7", 5) == 0 || strncmp(host, "armv8", 5) == 0;
    return false;
}

/* The version a minion binary carries: the text after its "@(#)mctl "
   mark (util.h's mc_version), or "". */
void deploy_binary_version(const char *data, size_t len, char *out, size_t cap)
{
    static const char mark[] = "@(#)mctl ";
    const char *p = memmem(data, len, mark, sizeof mark - 1);
    size_t n = 0;
    if (p) {
        p += sizeof mark - 1;
        while (p + n < data + len && n + 1 < cap && p[n] > ' ' && p[n] < 127)
            n++;
    }
    memcpy(out, p ? p : "", n);
    out[n] = '\0';
}

int deploy_load_binary(deploy_t *d)
{
    char *path = NULL;
    if (d->package) {
        path = mc_strdup(d->package);
    } else if (d->binary_path) {
        path = mc_strdup(d->binary_path);
    } else {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            fprintf(stderr,
                    "mctl deploy: cannot find this program's folder; use --minion-binary\n");
            return EXIT_USAGE;
        }
        self[n] = '\0';
        *strrchr(self, '/') = '\0';
        path = mc_sprintf("%s/mctl-minion", self);
    }
    char *data = NULL;
    size_t len = 0;
    mc_err_t err;
    int rc = 0;
    if (mc_read_file(path, 256 << 20, &data, &len, &err) != 0) {
        fprintf(stderr, "mctl deploy: the minion %s: %s\n", d->package ? "package" : "binary",
                err.msg);
        rc = EXIT_USAGE;
    } else if (d->package && (len < 21 || memcmp(data, "!<arch>\ndebian-binary", 21) != 0)) {
        fprintf(stderr, "mctl deploy: %s is not a Debian package\n", path);
        rc = EXIT_USAGE;
    } else if (!d->package &&
               elf_arch((unsigned char *)data, len, d->binary_arch, sizeof d->binary_arch) != 0) {
        fprintf(stderr, "mctl deploy: %s is not a program this tool knows how to install\n", path);
        rc = EXIT_USAGE;
    } else {
        if (d->package)
            snprintf(d->binary_arch, sizeof d->binary_arch, "(package)");
        d->binary = (unsigned char *)data;
        d->binary_len = len;
        deploy_sha256_hex(data, len, d->binary_sha);
        deploy_binary_version(data, len, d->binary_version, sizeof d->binary_version);
        data = NULL;
    }
    free(data);
    free(path);
    return rc;
}

/* A YAML scalar that reads back as the same string. */
static void emit_scalar(FILE *f, const mc_yaml_t *s)
{
    const char *v = s->value;
    bool plain = !s->quoted && *v;
    for (const char *p = v; plain && *p; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '.' || *p == '-';
    if (plain) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void emit_yaml(FILE *f, const mc_yaml_t *node, int indent)
{
    for (size_t i = 0; i < node->count; i++) {
        const mc_yaml_t *c = node->items[i];
        fprintf(f, "%*s", indent, "");
        if (node->kind == MC_YAML_MAP) {
            mc_yaml_t key = {.kind = MC_YAML_SCALAR, .value = c->key};
            emit_scalar(f, &key);
            fputc(':', f);
        } else {
            fputc('-', f);
        }
        if (c->kind == MC_YAML_SCALAR) {
            fputc(' ', f);
            emit_scalar(f, c);
            fputc('\n', f);
        } else if (c->count == 0) {
            fputs(c->kind == MC_YAML_MAP ? " {}\n" : " []\n", f);
        } else {
            fputc('\n', f);
            emit_yaml(f, c, indent + 2);
        }
    }
}

/* The minion config deploy writes for a host. */
char *deploy_minion_config(const deploy_t *d, const host_t *h, bool systemd, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    fprintf(f,
            "# Written by mctl deploy, which rewrites it on every run.\n"
            "id: \"%s\"\n"
            "master: \"%s\"\n"
            "master_pubkey: \"%s\"\n"
            "publish_port: %d\n"
            "ret_port: %d\n"
            "auth_port: %d\n"
            "pki_dir: /etc/mctl/pki/minion\n"
            "cachedir: /var/lib/mctl/minion\n"
            "pidfile: /run/mctl/minion.pid\n",
            h->id, d->master_addr, d->master_pub, d->publish_port, d->ret_port, d->auth_port);
    /* Under systemd, stderr goes to the journal. */
    if (!systemd)
        fprintf(f, "log_file: /var/log/mctl/minion.log\n");
    if (h->grains && h->grains->count) {
        fprintf(f, "grains:\n");
        emit_yaml(f, h->grains, 2);
    }
    fclose(f);
    return text;
}
