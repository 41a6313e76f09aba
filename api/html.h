/*  html - writing HTML: text escaped for element content and attribute
    values, and the page frame every console page shares. */
#ifndef MC_API_HTML_H
#define MC_API_HTML_H

#include <stdbool.h>
#include <stdint.h>
#include <msgpack.h>
#include <stdio.h>

/* Text with & < > " ' escaped (bytes that are not UTF-8 pass through: the
   browser shows them as replacement characters). */
void html_text(FILE *f, const char *s, size_t len);
void html_str(FILE *f, const char *s);
/* A value as JSON (json.h: indent, or MC_JSON_COMPACT), escaped. */
void html_json(FILE *f, const msgpack_object *v, int indent);
/* A time as "YYYY-MM-DD HH:MM:SS" UTC, or "-" for none, in a <time>
   element the script can show in local time. */
void html_time(FILE *f, int64_t us);
/* The top of a page: title, stylesheet, script, navigation; user is who
   is logged in (NULL on the login page), form_key the session's form key
   for the script's requests (in a meta element; never the token). */
void html_begin(FILE *f, const char *title, const char *user, const char *form_key,
                const char *page);
void html_end(FILE *f);

#endif
