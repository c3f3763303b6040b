/*
 * clf_encoder_config_option: one encoder option in the `clformer` command's
 * grammar (--activation, --attn-impl, --attn, --kv [,q], --attn-quant, --linear,
 * --precision, --ffn, --ffn-act, --drop-dense), the one parser the command
 * line and the Python package share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clformer.h"

/* A word of a table of (word, value) pairs into *out; false when absent. */
struct word {
    const char *word;
    int value;
};

static bool find_word(const struct word *w, size_t n, const char *s, int *out)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, w[i].word)) {
            *out = w[i].value;
            return true;
        }
    return false;
}
#define FIND(table, s, out) find_word(table, sizeof table / sizeof table[0], s, out)

static const struct word acts[] = {
    {"relu", CLF_ACT_RELU}, {"gelu", CLF_ACT_GELU}, {"gelu-tanh", CLF_ACT_GELU_TANH}};
static const struct word impls[] = {
    {"auto", CLF_ATTN_AUTO}, {"fused", CLF_ATTN_FUSED}, {"gemm", CLF_ATTN_GEMM}};
static const struct word kvs[] = {{"f32", CLF_KV_F32},
                                  {"int8", CLF_KV_INT8_TOKEN},
                                  {"int8:token", CLF_KV_INT8_TOKEN},
                                  {"int8:channel", CLF_KV_INT8_CHANNEL}};
static const struct word linears[] = {{"f32", 0}, {"int8", 1}};
static const struct word precisions[] = {
    {"f32", CLF_PRECISION_F32}, {"f16", CLF_PRECISION_F16}, {"bf16", CLF_PRECISION_BF16}};

/* --attn-quant: f32, f16 or log:B with B in 2..8. */
static bool attn_quant(const char *s, struct clf_encoder_config *cfg)
{
    if (!strcmp(s, "f32") || !strcmp(s, "f16")) {
        cfg->attn_p = s[1] == '3' ? CLF_P_F32 : CLF_P_F16;
        return true;
    }
    char *end;
    long bits = strncmp(s, "log:", 4) ? 0 : strtol(s + 4, &end, 10);
    if (bits < 2 || bits > 8 || *end || s[4] < '0' || s[4] > '9')
        return false;
    cfg->attn_p = CLF_P_LOG;
    cfg->attn_p_bits = (int)bits;
    return true;
}

enum clf_status clf_encoder_config_option(struct clf_encoder_config *cfg, const char *name,
                                          const char *value, char *msg, size_t size)
{
    char why[200] = "";
    if (msg && size)
        msg[0] = 0;
    if (!cfg || !name || (!value && strcmp(name ? name : "", "drop-dense"))) {
        if (msg && size)
            snprintf(msg, size, "NULL configuration, option name or value");
        return CLF_E_INVALID_ARG;
    }
    int v = 0;
    bool ok = true;
    if (!strcmp(name, "activation")) {
        if ((ok = FIND(acts, value, &v)))
            cfg->act = (enum clf_act)v;
        else
            snprintf(why, sizeof why, "unknown activation '%s' (relu, gelu, gelu-tanh)", value);
    } else if (!strcmp(name, "attn-impl")) {
        if ((ok = FIND(impls, value, &v)))
            cfg->attn_impl = (enum clf_attention_impl)v;
        else
            snprintf(why, sizeof why, "unknown --attn-impl '%s' (auto, fused, gemm)", value);
    } else if (!strcmp(name, "kv")) {
        /* an int8 format, then ",q": the queries in int8 too */
        size_t n = strlen(value);
        bool q = n > 2 && !strcmp(value + n - 2, ",q");
        char base[32];
        snprintf(base, sizeof base, "%.*s", (int)(q ? n - 2 : n), value);
        if ((ok = FIND(kvs, base, &v) && !(q && v == CLF_KV_F32))) {
            cfg->kv = (enum clf_kv_format)v;
            cfg->attn_q_int8 = q;
        } else {
            snprintf(why, sizeof why, "--kv takes f32, int8 (per token) or int8:channel, the "
                                      "int8 ones with ,q for int8 queries too");
        }
    } else if (!strcmp(name, "attn-quant")) {
        if (!(ok = attn_quant(value, cfg)))
            snprintf(why, sizeof why, "--attn-quant takes f32, f16 or log:B with B in 2..8");
    } else if (!strcmp(name, "linear")) {
        if ((ok = FIND(linears, value, &v)))
            cfg->linear_int8 = v != 0;
        else
            snprintf(why, sizeof why, "--linear takes f32 or int8");
    } else if (!strcmp(name, "precision")) {
        if ((ok = FIND(precisions, value, &v)))
            cfg->precision = (enum clf_precision)v;
        else
            snprintf(why, sizeof why, "--precision takes f32, f16 or bf16");
    } else if (!strcmp(name, "drop-dense")) {
        cfg->drop_dense = true;
    } else if (!strcmp(name, "attn") || !strcmp(name, "ffn") || !strcmp(name, "ffn-act")) {
        char inner[160];
        enum clf_status st =
            !strcmp(name, "attn") ? clf_attention_variant_parse(value, &cfg->attn, inner, sizeof inner)
            : !strcmp(name, "ffn") ? clf_ffn_factor_parse(value, &cfg->ffn, inner, sizeof inner)
                                   : clf_actq_parse(value, &cfg->ffn_act, inner, sizeof inner);
        if (!(ok = st == CLF_OK))
            snprintf(why, sizeof why, "--%s %s: %s", name, value, inner);
    } else {
        ok = false;
        snprintf(why, sizeof why, "unknown encoder option '%s'", name);
    }
    if (!ok && msg && size)
        snprintf(msg, size, "%s", why);
    return ok ? CLF_OK : CLF_E_INVALID_ARG;
}
