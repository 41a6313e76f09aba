/*  ydoc - see ydoc.h. Built on libyaml's event parser: a stack of open
    containers, each event adds a node to the top one. */
#include "ydoc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

static mc_yaml_t *node_new(mc_yaml_kind_t kind, int line)
{
    mc_yaml_t *n = mc_calloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

static void node_add(mc_yaml_t *parent, mc_yaml_t *child)
{
    parent->items = mc_realloc(parent->items, (parent->count + 1) * sizeof *parent->items);
    parent->items[parent->count++] = child;
}

void mc_yaml_free(mc_yaml_t **node)
{
    if (!node || !*node)
        return;
    mc_yaml_t *n = *node;
    for (size_t i = 0; i < n->count; i++)
        mc_yaml_free(&n->items[i]);
    free(n->items);
    free(n->value);
    free(n->key);
    free(n);
    *node = NULL;
}

mc_yaml_t *mc_yaml_parse(const char *name, const char *text, size_t len, mc_err_t *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    mc_yaml_t *stack[MAX_DEPTH];
    char *pending_key[MAX_DEPTH];
    int depth = 0;
    mc_yaml_t *root = NULL;
    bool done = false;

    memset(pending_key, 0, sizeof pending_key);
    if (!yaml_parser_initialize(&parser)) {
        mc_err_set(err, "%s: cannot start the YAML parser", name);
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            mc_err_set(err, "%s: line %zu: %s", name, parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "invalid YAML");
            goto fail;
        }
        int line = (int)ev.start_mark.line + 1;
        mc_yaml_t *node = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            done = ev.type == YAML_STREAM_END_EVENT || root != NULL;
            break;
        case YAML_ALIAS_EVENT:
            mc_err_set(err, "%s: line %d: aliases are not supported", name, line);
            yaml_event_delete(&ev);
            goto fail;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.anchor) {
                mc_err_set(err, "%s: line %d: anchors are not supported", name, line);
                yaml_event_delete(&ev);
                goto fail;
            }
            /* A scalar in a map is a key when no key is pending. */
            if (depth > 0 && stack[depth - 1]->kind == MC_YAML_MAP && !pending_key[depth - 1]) {
                pending_key[depth - 1] =
                    mc_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                break;
            }
            node = node_new(MC_YAML_SCALAR, line);
            node->value = mc_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
            node->quoted = ev.data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
                           ev.data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth > 0 && stack[depth - 1]->kind == MC_YAML_MAP && !pending_key[depth - 1]) {
                mc_err_set(err, "%s: line %d: a map key must be a plain value", name, line);
                yaml_event_delete(&ev);
                goto fail;
            }
            if (depth >= MAX_DEPTH) {
                mc_err_set(err, "%s: line %d: nested too deeply", name, line);
                yaml_event_delete(&ev);
                goto fail;
            }
            node =
                node_new(ev.type == YAML_SEQUENCE_START_EVENT ? MC_YAML_LIST : MC_YAML_MAP, line);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            free(pending_key[depth]);
            pending_key[depth] = NULL;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (!node)
            continue;
        if (depth == 0) {
            if (root) {
                mc_yaml_free(&node);
                continue;
            }
            root = node;
        } else {
            mc_yaml_t *parent = stack[depth - 1];
            if (parent->kind == MC_YAML_MAP) {
                if (mc_yaml_get(parent, pending_key[depth - 1])) {
                    mc_err_set(err, "%s: line %d: '%s' is given twice", name, line,
                               pending_key[depth - 1]);
                    mc_yaml_free(&node);
                    goto fail;
                }
                node->key = pending_key[depth - 1];
                pending_key[depth - 1] = NULL;
            }
            node_add(parent, node);
        }
        if (node->kind != MC_YAML_SCALAR)
            stack[depth++] = node;
    }
    yaml_parser_delete(&parser);
    if (!root)
        root = node_new(MC_YAML_MAP, 1);
    if (root->kind == MC_YAML_SCALAR && root->value[0] == '\0') {
        root->kind = MC_YAML_MAP;
    }
    return root;
fail:
    for (int i = 0; i < MAX_DEPTH; i++)
        free(pending_key[i]);
    yaml_parser_delete(&parser);
    mc_yaml_free(&root);
    return NULL;
}

mc_yaml_t *mc_yaml_load(const char *name, const char *path, mc_err_t *err)
{
    char *text;
    size_t len;
    if (mc_read_file(path, 1 << 20, &text, &len, err) != 0)
        return NULL;
    mc_yaml_t *root = mc_yaml_parse(name, text, len, err);
    free(text);
    return root;
}

const mc_yaml_t *mc_yaml_get(const mc_yaml_t *map, const char *key)
{
    if (!map || map->kind != MC_YAML_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->items[i]->key, key) == 0)
            return map->items[i];
    return NULL;
}

static void pack_scalar(msgpack_packer *pk, const mc_yaml_t *n)
{
    const char *v = n->value;
    if (!n->quoted) {
        if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "yes")) {
            msgpack_pack_true(pk);
            return;
        }
        if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "no")) {
            msgpack_pack_false(pk);
            return;
        }
        if (!strcmp(v, "~") || !strcmp(v, "null") || v[0] == '\0') {
            msgpack_pack_nil(pk);
            return;
        }
        char *end;
        errno = 0;
        long long i = strtoll(v, &end, 10);
        if (*v && *end == '\0' && errno == 0) {
            msgpack_pack_int64(pk, i);
            return;
        }
        double d = strtod(v, &end);
        if (*v && *end == '\0' && errno == 0 && strspn(v, "0123456789.-+eE") == strlen(v)) {
            msgpack_pack_double(pk, d);
            return;
        }
    }
    msgpack_pack_str(pk, strlen(v));
    msgpack_pack_str_body(pk, v, strlen(v));
}

void mc_yaml_pack(msgpack_packer *pk, const mc_yaml_t *n)
{
    switch (n->kind) {
    case MC_YAML_SCALAR:
        pack_scalar(pk, n);
        break;
    case MC_YAML_LIST:
        msgpack_pack_array(pk, n->count);
        for (size_t i = 0; i < n->count; i++)
            mc_yaml_pack(pk, n->items[i]);
        break;
    case MC_YAML_MAP:
        msgpack_pack_map(pk, n->count);
        for (size_t i = 0; i < n->count; i++) {
            msgpack_pack_str(pk, strlen(n->items[i]->key));
            msgpack_pack_str_body(pk, n->items[i]->key, strlen(n->items[i]->key));
            mc_yaml_pack(pk, n->items[i]);
        }
        break;
    }
}
