/* The build options of the attention programs (see attention.h). */
#include <stdio.h>

#include "attention.h"

#define EXACT (1u << CLF_ATTN_PROGRAM_EXACT)
#define SPARSE (1u << CLF_ATTN_PROGRAM_SPARSE)
#define QUANT (1u << CLF_ATTN_PROGRAM_QUANT)

const struct clf_attn_opt_def clf_attn_opt_defs[CLF_ATTN_OPTS] = {
    [CLF_ATTN_OPT_VW] = {"VW", 16, EXACT | SPARSE | QUANT},
    [CLF_ATTN_OPT_QV] = {"QV", 2, EXACT | SPARSE | QUANT},
    [CLF_ATTN_OPT_BK] = {"BK", 12, EXACT | SPARSE | QUANT},
    [CLF_ATTN_OPT_DC] = {"DC", 8, EXACT | SPARSE | QUANT},
    [CLF_ATTN_OPT_DMAX] = {"DMAX", 64, EXACT | SPARSE | QUANT},
    [CLF_ATTN_OPT_GQ] = {"GQ", 64, EXACT},
    [CLF_ATTN_OPT_GK] = {"GK", 64, EXACT},
    [CLF_ATTN_OPT_SG] = {"SG", 0, EXACT},
    [CLF_ATTN_OPT_KV] = {"KV", 0, QUANT},
    [CLF_ATTN_OPT_PF] = {"PF", 0, QUANT},
    [CLF_ATTN_OPT_AQ_CPU] = {"AQ_CPU", 0, QUANT},
    [CLF_ATTN_OPT_VS3] = {"VS3", 1, QUANT},
    [CLF_ATTN_OPT_QI8] = {"QI8", 0, QUANT},
};

const char *const clf_attn_program_family[CLF_ATTN_PROGRAMS] = {
    [CLF_ATTN_PROGRAM_EXACT] = "attention",
    [CLF_ATTN_PROGRAM_SPARSE] = "attention_sparse",
    [CLF_ATTN_PROGRAM_QUANT] = "attention_quant",
};

struct clf_attn_options clf_attn_options_default(void)
{
    struct clf_attn_options o;
    for (int i = 0; i < CLF_ATTN_OPTS; i++)
        o.v[i] = clf_attn_opt_defs[i].value;
    return o;
}

struct clf_attn_options clf_attn_options_cpu(const struct clf_ctx *ctx, int64_t dmax_of)
{
    struct clf_attn_options o = clf_attn_options_default();
    const struct clf_attn_cpu_config *c = clf_attn_cpu_config(ctx);
    o.v[CLF_ATTN_OPT_VW] = c->vw;
    o.v[CLF_ATTN_OPT_QV] = c->qv;
    o.v[CLF_ATTN_OPT_BK] = c->bk;
    o.v[CLF_ATTN_OPT_DC] = c->dc;
    o.v[CLF_ATTN_OPT_DMAX] = clf_attn_dmax(dmax_of);
    return o;
}

const char *clf_attn_options_str(enum clf_attn_program program, const struct clf_attn_options *o,
                                 char *buf)
{
    size_t w = 0;
    bool all_default = true;
    buf[0] = 0;
    for (int i = 0; i < CLF_ATTN_OPTS; i++) {
        const struct clf_attn_opt_def *def = &clf_attn_opt_defs[i];
        if (!(def->programs & (1u << program)))
            continue;
        all_default = all_default && o->v[i] == def->value;
        /* 12 options of at most 21 characters (" -DAQ_CPU=-2147483648") fit */
        w += (size_t)snprintf(buf + w, CLF_ATTN_OPTIONS_LEN - w, "%s-D%s=%d", w ? " " : "",
                              def->name, o->v[i]);
    }
    return all_default ? NULL : buf;
}
