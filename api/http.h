/*  http - one HTTP request to mctl-api: its body (at most API_BODY_MAX
    bytes, else 413 with nothing done), who sent it (a login token in the
    X-Auth-Token header, or for reading pages the mctl_token cookie), and
    the responses, with the headers every response carries (no caching,
    no sniffing, no framing, scripts and styles from this server only). */
#ifndef MC_API_HTTP_H
#define MC_API_HTTP_H

#include <microhttpd.h>
#include <stdio.h>

#include "api.h"

#define API_BODY_MAX (64 * 1024)

typedef struct {
    api_t *api;
    struct MHD_Connection *conn;
    const char *method, *url;
    char *body;
    size_t body_len;
    bool body_too_big;
    char addr[64];              /* the client's address, for the log and login limits */
    char user[MC_USER_MAX + 1]; /* logged in as, when http_auth said so */
    char token[SESSION_TOKEN_LEN + 1];
    char form_key[SESSION_TOKEN_LEN + 1]; /* the session's, for the console's pages */
} http_req_t;

/* MHD's access handler (cls: the api_t). */
enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls);
/* MHD's request-completed callback: frees the request. */
void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe);

/* Whether the request carries a valid login of a user who may still use
   the master (access.h): true with r->user set. A GET or HEAD may use the
   cookie; anything that changes something needs the token in X-Auth-Token,
   or the cookie and the session's form key in X-CSRF-Token: neither can
   another site's page send. */
bool http_auth(http_req_t *r);
/* Whether a browser's request comes from a page of this server: no
   Origin header (not a browser), or one naming this scheme and Host.
   Requests that change something must. */
bool http_same_origin(http_req_t *r);

/* Respond with these bytes (copied) and type. */
enum MHD_Result http_respond(http_req_t *r, unsigned status, const char *type, const void *body,
                             size_t len);
/* Respond with a JSON body made by a memstream (closed here). */
enum MHD_Result http_json_stream(http_req_t *r, unsigned status, FILE *f, char **buf, size_t *len);
/* {"error": message, "status": status} */
enum MHD_Result http_error(http_req_t *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 303 to location, with extra header lines (NULL-terminated name/value
   pairs) such as Set-Cookie. */
enum MHD_Result http_redirect(http_req_t *r, const char *location, const char *const *headers);

/* Add the headers every response has. */
void http_common_headers(http_req_t *r, struct MHD_Response *resp);

/* A query argument, or NULL. */
const char *http_arg(http_req_t *r, const char *name);
/* A field of an application/x-www-form-urlencoded body, decoded into
   out; false when absent or too long. */
bool http_form_field(const http_req_t *r, const char *name, char *out, size_t cap);

#endif
