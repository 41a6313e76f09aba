/*  cp - receiving files: cp.recv.

    The minion's main process takes a copy itself (minion/receive.c), as
    the job and the chunks after it come; the table here gives cp.recv its
    documentation and a place in sys.list_functions. */
#include "module.h"

static const mc_function_t functions[] = {
    {"recv", mc_call_answered_by_main,
     "Receive files sent by `mctl cp` (it is not called on its own). Each file is\n"
     "written under a temporary name in its directory, checked against its\n"
     "BLAKE2b-256, given its owner and mode, fsync'd and renamed into place; a\n"
     "symbolic link below the destination is never followed, and a file already\n"
     "there with the same content is left alone. The return maps each path to\n"
     "\"written\", \"unchanged\" or why it failed. Allow it in publisher_acl to let a\n"
     "user copy files (arguments: the destination).\n\n"
     "    mctl cp 'web*' nginx.conf /etc/nginx/nginx.conf\n"
     "    mctl cp -r -G 'roles:web' ./site /srv/www/",
     0},
    {NULL, NULL, NULL, 0},
};

const mc_module_t mc_module_cp = {"cp", functions};
