/*  http - see http.h. */
#include "http.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "json.h"
#include "log.h"
#include "routes.h"

void http_common_headers(http_req_t *r, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; frame-ancestors 'none'; form-action 'self'");
    if (r->api->tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

enum MHD_Result http_respond(http_req_t *r, unsigned status, const char *type, const void *body,
                             size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    http_common_headers(r, resp);
    enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result http_json_stream(http_req_t *r, unsigned status, FILE *f, char **buf, size_t *len)
{
    fputc('\n', f);
    fclose(f);
    enum MHD_Result rc = http_respond(r, status, "application/json", *buf, *len);
    free(*buf);
    *buf = NULL;
    return rc;
}

enum MHD_Result http_error(http_req_t *r, unsigned status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fputs("{\"error\": ", f);
    mc_json_text(f, msg, strlen(msg), MC_JSON_COMPACT);
    fprintf(f, ", \"status\": %u}", status);
    if (status >= 500)
        mc_warn("%s %s from %s: %u %s", r->method, r->url, r->addr, status, msg);
    return http_json_stream(r, status, f, &buf, &len);
}

enum MHD_Result http_redirect(http_req_t *r, const char *location, const char *const *headers)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Location", location);
    for (size_t i = 0; headers && headers[i]; i += 2)
        MHD_add_response_header(resp, headers[i], headers[i + 1]);
    http_common_headers(r, resp);
    enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_SEE_OTHER, resp);
    MHD_destroy_response(resp);
    return rc;
}

const char *http_arg(http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool http_form_field(const http_req_t *r, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = r->body, *end = r->body + r->body_len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(stop - p) - nlen - 1;
            if (vlen >= cap)
                return false;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            for (char *c = out; *c; c++)
                if (*c == '+')
                    *c = ' ';
            /* A %00 would cut the value short: refused. */
            return MHD_http_unescape(out) == strlen(out);
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

/* The value of one cookie in the Cookie header. */
static const char *cookie(http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

bool http_auth(http_req_t *r)
{
    const char *token = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-Auth-Token");
    bool reading = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    bool by_cookie = !token;
    if (by_cookie)
        token = cookie(r, "mctl_token");
    if (!token || strlen(token) != SESSION_TOKEN_LEN)
        return false;
    char form_key[SESSION_TOKEN_LEN + 1];
    if (!sessions_lookup(r->api->sessions, token, r->user, form_key, NULL)) {
        r->user[0] = '\0';
        return false;
    }
    /* With the cookie alone (which a browser sends whoever made the page),
       only reading; a change also needs the session's form key, which
       only the console's own pages hold. */
    if (by_cookie && !reading) {
        const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "X-CSRF-Token");
        if (!key || strlen(key) != SESSION_TOKEN_LEN ||
            sodium_memcmp(key, form_key, SESSION_TOKEN_LEN) != 0) {
            r->user[0] = '\0';
            return false;
        }
    }
    if (!access_may_use_master(r->api, r->user)) {
        mc_warn("%s from %s: %s may no longer use the master; refused", r->url, r->addr, r->user);
        r->user[0] = '\0';
        return false;
    }
    if (!access_account_ok(r->api, token, r->user)) {
        r->user[0] = '\0';
        return false;
    }
    snprintf(r->token, sizeof r->token, "%s", token);
    memcpy(r->form_key, form_key, sizeof r->form_key);
    return true;
}

bool http_same_origin(http_req_t *r)
{
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!origin)
        return true; /* not a browser's cross-site request */
    const char *host = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Host");
    const char *scheme = r->api->tls ? "https://" : "http://";
    size_t n = strlen(scheme);
    return host && strncmp(origin, scheme, n) == 0 && strcmp(origin + n, host) == 0;
}

static void client_addr(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

enum MHD_Result http_handle(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls)
{
    (void)version;
    http_req_t *r = *con_cls;
    if (!r) {
        r = mc_calloc(1, sizeof *r);
        r->api = cls;
        r->conn = conn;
        r->method = method;
        r->url = url;
        client_addr(conn, r->addr, sizeof r->addr);
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (!r->body_too_big && r->body_len + n <= API_BODY_MAX) {
            /* Room for the largest body at once: no copies of a password
               are left behind by growing it. */
            if (!r->body)
                r->body = mc_malloc(API_BODY_MAX + 1);
            memcpy(r->body + r->body_len, upload_data, n);
            r->body_len += n;
            r->body[r->body_len] = '\0';
        } else {
            r->body_too_big = true;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->body_too_big)
        return http_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "the request body is larger than %d bytes",
                          API_BODY_MAX);
    bool reading = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!reading && !http_same_origin(r))
        return http_error(r, 403, "a request from another site (Origin) is refused");
    return routes_dispatch(r);
}

void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    http_req_t *r = *con_cls;
    if (!r)
        return;
    if (r->body)
        sodium_memzero(r->body, API_BODY_MAX + 1); /* a login's password */
    free(r->body);
    free(r);
    *con_cls = NULL;
}
