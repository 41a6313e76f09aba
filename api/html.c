/*  html - see html.h. */
#include "html.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include <time.h>

void html_text(FILE *f, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        switch (s[i]) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        case '\0':
            fputs("\xef\xbf\xbd", f);
            break;
        default:
            fputc(s[i], f);
        }
    }
}

void html_str(FILE *f, const char *s)
{
    html_text(f, s ? s : "", s ? strlen(s) : 0);
}

void html_json(FILE *f, const msgpack_object *v, int indent)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    mc_json_value(m, v, indent);
    fclose(m);
    html_text(f, buf, len);
    free(buf);
}

void html_time(FILE *f, int64_t us)
{
    if (us <= 0) {
        fputs("-", f);
        return;
    }
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char iso[32], shown[32];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(shown, sizeof shown, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(f, "<time datetime=\"%s\">%s UTC</time>", iso, shown);
}

void html_begin(FILE *f, const char *title, const char *user, const char *form_key,
                const char *page)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
          f);
    if (form_key)
        fprintf(f, "<meta name=\"mctl-form-key\" content=\"%s\">", form_key);
    fputs("<title>", f);
    html_str(f, title);
    fputs(" - mctl</title><link rel=\"stylesheet\" href=\"/static/console.css\">"
          "<script src=\"/static/console.js\" defer></script></head>\n",
          f);
    fprintf(f, "<body data-page=\"%s\"><header><a class=\"brand\" href=\"/\">mctl</a>", page);
    if (user) {
        fputs("<nav><a href=\"/\">Jobs</a><a href=\"/fleet\">Minions</a>"
              "<a href=\"/launch\">Run</a></nav><span class=\"who\">",
              f);
        html_str(f, user);
        fputs(" <button id=\"logout\" type=\"button\">Log out</button></span>", f);
    }
    fputs("</header>\n<main>\n", f);
}

void html_end(FILE *f)
{
    fputs("</main>\n</body></html>\n", f);
}
