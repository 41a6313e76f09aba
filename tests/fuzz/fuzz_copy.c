/*  Fuzz target: what a copy (mctl cp) sends, as its receivers decode it:
    a chunk (the minion: its header and its key's check, and the body's
    fields as decryption yields them), a cpack
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
        /* A chunk as the minion takes it: the header, then the key's
           check (which fuzzed bytes do not pass), then the body. */
        char jid[MC_JID_LEN + 1];
        if (mc_chunk_jid(data + 1, size - 1, jid) == 0 && !mc_jid_valid(jid, strlen(jid)))
            abort();
        mc_chunk_t c;
        static const unsigned char key[32] = {1};
        rc = mc_chunk_decode(&c, data + 1, size - 1, key, &err);
        if (rc == 0)
            mc_chunk_done(&c);
        /* And the body's fields as they come out of the decryption. */
        mc_mp_doc_t doc;
        if (mc_mp_parse(&doc, data + 1, size - 1, &err) == 0) {
            mc_chunk_fields_t f;
            if (mc_chunk_fields_decode(&doc.root, &f, &err) == 0) {
                size_t total = 0;
                for (size_t i = 0; i < f.nparts; i++) {
                    total += f.parts[i].len;
                    if (f.parts[i].file >= MC_CP_FILES_MAX || (f.parts[i].abort && f.parts[i].len))
                        abort();
                }
                if (f.nparts > MC_CP_PARTS_MAX || total > MC_CP_CHUNK_MAX)
                    abort();
                mc_chunk_fields_done(&f);
            }
            mc_mp_doc_done(&doc);
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
