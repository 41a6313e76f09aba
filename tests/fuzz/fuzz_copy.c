/*  Fuzz target: what a copy (mctl cp) sends, as its receivers decode it:
    a chunk (the minion: decoded, then checked against a key), a cpack
    (the master and mctl) and a manifest (the minion, inside a cp.recv
    job; the master, inside a cp_start request); the first byte picks
    which. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    mc_err_t err;
    err.msg[0] = '\0';
    int rc;
    switch (data[0] % 3) {
    case 0: {
        mc_chunk_t c;
        rc = mc_chunk_decode(&c, data + 1, size - 1, &err);
        if (rc == 0) {
            static const unsigned char key[32] = {1};
            size_t total = 0;
            for (size_t i = 0; i < c.f.nparts; i++) {
                const mc_chunk_part_t *p = &c.f.parts[i];
                total += p->len;
                if (p->file >= MC_CP_FILES_MAX || (p->abort && p->len))
                    abort();
            }
            if (c.f.nparts > MC_CP_PARTS_MAX || total > MC_CP_CHUNK_MAX)
                abort();
            (void)mc_chunk_verify(&c, key);
            mc_chunk_done(&c);
        }
        break;
    }
    case 1: {
        mc_cpack_t a;
        rc = mc_cpack_decode(&a, data + 1, size - 1, &err);
        if (rc == 0) {
            if (a.have_len > MC_CPACK_HAVE_MAX || (!a.id[0] && !a.error[0]))
                abort();
            mc_cpack_done(&a);
        }
        break;
    }
    default: {
        mc_mp_doc_t doc;
        rc = mc_mp_parse(&doc, data + 1, size - 1, &err);
        if (rc == 0) {
            mc_cp_manifest_t m;
            rc = mc_cp_manifest_decode(&doc.root, "copy", &m, &err);
            if (rc == 0) {
                if (m.dest[0] != '/' || m.count == 0 || (!m.into && m.count != 1))
                    abort();
                for (size_t i = 0; i < m.count; i++)
                    if (!mc_cp_name_valid(m.files[i].name, strlen(m.files[i].name)))
                        abort();
                mc_cp_manifest_free(&m);
            }
            mc_mp_doc_done(&doc);
        }
        break;
    }
    }
    if (rc != 0 && !err.msg[0])
        abort();
    return 0;
}
