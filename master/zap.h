/*  zap - the master's ZAP handler (RFC 27): who may connect with CURVE.

    libzmq asks it about every CURVE handshake on the master's TCP sockets.
    On the registration socket (domain "reg") any key may connect; the reply
    names the key itself (Z85) as the user id, so the registration handler
    can check that a minion presents the key it connected with. On the
    publish and return sockets (domain "minion") only accepted keys get in,
    and the user id is again the key itself: every message and every
    subscription carries, as ZMQ "User-Id" metadata, the key that sent it,
    and the master resolves it to a minion anew each time, so a key deleted
    or replaced since the connection was made speaks for nobody.

    Keeping the handler in the master's own loop, over the registry in
    memory, means an accepted key is admitted and a deleted one refused on
    the very next handshake, with no folder to rescan. */
#ifndef MC_ZAP_H
#define MC_ZAP_H

#include "log.h"
#include "registry.h"

#define ZAP_DOMAIN_REGISTER "reg"
#define ZAP_DOMAIN_MINION   "minion"

/* Bind the handler socket; it must exist before the CURVE sockets bind. */
zsock_t *zap_new(mc_err_t *err);
/* Answer one request waiting on the socket (receives do not block);
   false when none was waiting. Refusals are logged through the limiter
   (anyone can knock). */
bool zap_handle(zsock_t *zap, registry_t *registry, mc_log_limit_t *refused);

#endif
