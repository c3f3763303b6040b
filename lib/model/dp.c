/*
 * The data-parallel runner (clformer.h, "Several devices"): a replica of
 * one model on every member of a device group, or on this rank's device
 * with the ranks' outputs gathered by the caller (struct clf_dp_comm), the
 * batch split into contiguous shares.
 *
 * Shares: member (or rank) r of N takes items [first_r, first_r + count_r)
 * of a batch of B, count_r = B/N plus one for the first B mod N (as many
 * items as possible on every member, in batch order); a member with none
 * idles.
 *
 * Per member and call (one thread each in a group, member 0 in the
 * caller's): its graph, recorded once per (count, seq, padded) and
 * replayed, is fed its rows of the input and its output read straight
 * into its rows of the caller's output. A member keeps the graphs of the
 * shapes it ran last (struct dp_shape), so that sentences of varied
 * lengths, sorted and batched, find their shapes recorded from the second
 * pass on (a recording took 0.25-0.4 ms for all-MiniLM-L6-v2, where 36 of
 * every 256 sentences started a new shape at batch 1 and 28 of 32 batches
 * at batch 8). The graph is the one a single
 * device records for the same model (clf_encoder_forward; clf_bert_forward
 * then clf_op_mean_pool_normalize), so an item's result is one device's
 * wherever it runs, as long as no op mixes the items of a share: true of
 * every op but K/V int8 per channel (its scales span all tokens).
 *
 * Calibration (the FFN activation quantisers' free parameters) runs on
 * every replica with the whole batch, as one device would, and drops the
 * recorded graphs (they hold the quantisers' parameters).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph.h"
#include "../ops/pooling.h"
#include "../runtime/abi.h"
#include "../runtime/ctx.h"
#include "bert_ragged.h"
#include "dp_internal.h"
#include "encoder_internal.h"
#include "tokenizer.h"

/* A graph recorded for one shape, and its inputs and output. */
struct dp_shape {
    int64_t count, seq;           /* items of its share, sequence length */
    bool padded;
    int64_t tokens;               /* a ragged BERT batch's tokens (0: run padded) */
    /* ragged: one i32 tensor [count + 1 + count·seq + tokens] (one write a
     * run) and its views, clf_bert_forward_ragged's offsets, unpack, pack */
    struct clf_tensor *index, *offsets, *unpack, *pack;
    struct clf_graph *g;          /* NULL: a free slot */
    struct clf_tensor *in;        /* x f32 [count, seq, d], or ids i32 [count, seq] */
    struct clf_tensor *pad;       /* key padding, or BERT's mask (1 = token), i32 [count, seq] */
    struct clf_tensor *out;       /* y f32 [count, seq, d], or embeddings [count, d] */
    uint64_t used;                /* the member's run count at its latest run */
    size_t bytes;                 /* its planned intermediates (0 before its first run) */
};

/* Shapes a member keeps at most: the distinct lengths of a batch-1 pass
 * over sentences of up to 64 tokens; and the planned memory of the kept
 * graphs at most, beyond the largest one's: that, or 4 times the largest,
 * whichever is more (the GEMMs' scratch buffers, A's panels for m > 64, are
 * not counted: they scale with the same tokens). The least recently run
 * shapes go first. */
#define DP_SHAPES 64
#define DP_SHAPE_BYTES ((size_t)64 << 20)

/* One replica and what it recorded. */
struct dp_member {
    struct clf_ctx *ctx;
    struct clf_encoder *enc;      /* an encoder runner's replica */
    struct clf_bert *bert;        /* a BERT runner's */
    struct dp_shape shapes[DP_SHAPES];
    struct dp_shape *last;        /* the shape run last (clf_dp_graph), or NULL */
    uint64_t runs;                /* the member's graph runs so far (LRU's clock) */
    uint64_t recorded;            /* graphs it recorded so far (clf_dp_recorded) */
    struct clf_dp_timings t;      /* its share of clf_dp_timings (text_ms unused) */
    enum clf_status st;           /* the latest call's */
    /* BERT: the Dense layers' weights on this member (clf_dp_set_dense) */
    struct clf_tensor **dense_w, **dense_b; /* [n_dense]: [out, in], [out] or NULL */
};

/* What the members of one call read (set before their threads start):
 * an encoder's batch of items, or BERT's whole batches. */
struct dp_call {
    const float *x;               /* [batch, seq, d] */
    const int32_t *pad;           /* [batch, seq] key padding, or NULL */
    int64_t batch, seq;
    const struct clf_dp_batch *batches; /* [nbatches] */
    size_t nbatches;
    float *out;                   /* the whole output */
    bool calibrate;               /* calibrate instead (on the whole batch, or batches[0]) */
    const struct clf_dense_layer *dense; /* clf_dp_set_dense's layers, being uploaded */
};

struct clf_dp {
    struct clf_dp_comm comm;      /* gather NULL: a group's members, gathered here */
    int n;                        /* shares (N): the group's size, or comm.size */
    int nlocal;                   /* replicas held here: N (a group), 1 (a rank) */
    struct dp_member *m;          /* [nlocal] */
    int64_t d;                    /* d_model */
    bool bert;                    /* BERT sentence embeddings, else an encoder */
    /* BERT: the pooling (clf_dp_set_pooling; default mean, normalised) */
    unsigned pool_modes;
    int64_t dims;                 /* the truncation asked (0: none) */
    bool pool_normalize;
    int64_t pool_skip;            /* leading tokens left out (clf_dp_set_pooling_skip) */
    bool ragged;                  /* BERT: ragged batches where they apply (clf_dp_set_ragged) */
    double text_ms;               /* clf_dp_embed_texts' host work (clf_dp_timings) */
    /* Dense layers after the pooling (clf_dp_set_dense) */
    size_t n_dense;
    enum clf_act *dense_act;      /* [n_dense] */
    int64_t dense_in, dense_out;  /* the first layer's input, the last one's output */
    /* for the replicas' construction (one thread each) */
    const struct clf_encoder_config *cfg;
    const char *path;
    uint64_t seed;
    struct dp_call call;
};

/* Global share r of a batch: [*first, *first + *count). */
static void share(int64_t batch, int n, int r, int64_t *first, int64_t *count)
{
    const int64_t q = batch / n, extra = batch % n;
    *first = r * q + (r < extra ? r : extra);
    *count = q + (r < extra ? 1 : 0);
}

/* The member's global rank. */
static int rank_of(const struct clf_dp *dp, int i)
{
    return dp->comm.gather ? dp->comm.rank : i;
}

/* Columns of a BERT runner's embedding: the truncation's, else the last
 * Dense layer's output, else the pooled width. */
static int64_t embed_cols(const struct clf_dp *dp)
{
    return dp->dims ? dp->dims
                    : dp->n_dense ? dp->dense_out : clf_pooling_width(dp->pool_modes, dp->d);
}

/* Floats of one item's output. */
static size_t item_floats(const struct clf_dp *dp, int64_t seq)
{
    return (size_t)(dp->bert ? embed_cols(dp) : seq * dp->d);
}

/* Frees what was recorded for shape s of member m. */
static void drop_one(struct dp_member *m, struct dp_shape *s)
{
    clf_graph_destroy(s->g);
    clf_tensor_destroy(s->in);
    clf_tensor_destroy(s->pad);
    clf_tensor_destroy(s->offsets);
    clf_tensor_destroy(s->unpack);
    clf_tensor_destroy(s->pack);
    clf_tensor_destroy(s->index);
    if (m->last == s)
        m->last = NULL;
    *s = (struct dp_shape){0};
}

/* Frees every shape member m recorded. */
static void drop_shapes(struct dp_member *m)
{
    for (int i = 0; i < DP_SHAPES; i++)
        drop_one(m, &m->shapes[i]);
}

/* Frees a member's Dense weights. */
static void drop_dense(const struct clf_dp *dp, struct dp_member *m)
{
    for (size_t k = 0; k < dp->n_dense; k++) {
        clf_tensor_destroy(m->dense_w ? m->dense_w[k] : NULL);
        clf_tensor_destroy(m->dense_b ? m->dense_b[k] : NULL);
    }
    free(m->dense_w);
    free(m->dense_b);
    m->dense_w = m->dense_b = NULL;
}

void clf_dp_destroy(struct clf_dp *dp)
{
    if (!dp)
        return;
    for (int i = 0; dp->m && i < dp->nlocal; i++) {
        drop_shapes(&dp->m[i]);
        drop_dense(dp, &dp->m[i]);
        clf_encoder_destroy(dp->m[i].enc);
        clf_bert_destroy(dp->m[i].bert);
    }
    free(dp->dense_act);
    free(dp->m);
    free(dp);
}

/* ------------------------------------------------------------------------ */
/* The members' threads                                                     */
/* ------------------------------------------------------------------------ */

struct dp_job {
    struct clf_dp *dp;
    void (*fn)(struct clf_dp *dp, int i);
    int i;
};

static void *member_main(void *arg)
{
    struct dp_job *j = arg;
    j->fn(j->dp, j->i);
    return NULL;
}

/* Runs fn(dp, i) for every local member at once, one thread each (member
 * 0 in this one); a member whose thread cannot start runs here after the
 * others, so every member runs whatever happens. */
static void run_members(struct clf_dp *dp, void (*fn)(struct clf_dp *dp, int i))
{
    const int n = dp->nlocal;
    pthread_t *th = n > 1 ? calloc((size_t)n, sizeof *th) : NULL;
    struct dp_job *jobs = n > 1 ? calloc((size_t)n, sizeof *jobs) : NULL;
    bool *started = n > 1 ? calloc((size_t)n, sizeof *started) : NULL;
    for (int i = 1; th && jobs && started && i < n; i++) {
        jobs[i] = (struct dp_job){dp, fn, i};
        started[i] = pthread_create(&th[i], NULL, member_main, &jobs[i]) == 0;
    }
    fn(dp, 0);
    for (int i = 1; i < n; i++) {
        if (started && started[i])
            pthread_join(th[i], NULL);
        else
            fn(dp, i);
    }
    free(th);
    free(jobs);
    free(started);
}

/* The first failed member's status, its reason on member 0's context
 * (naming the member). */
static enum clf_status members_status(struct clf_dp *dp)
{
    for (int i = 0; i < dp->nlocal; i++)
        if (dp->m[i].st != CLF_OK)
            return i ? clf_fail(dp->m[0].ctx, dp->m[i].st, "device %d of the group: %s", i,
                                clf_ctx_last_error(dp->m[i].ctx))
                     : dp->m[i].st;
    return CLF_OK;
}

/* ------------------------------------------------------------------------ */
/* Construction                                                             */
/* ------------------------------------------------------------------------ */

/* Member i's replica: the encoder from dp->cfg (path or seed), or BERT
 * from the model directory dp->path with options dp->cfg. */
static void make_replica(struct clf_dp *dp, int i)
{
    struct dp_member *m = &dp->m[i];
    if (dp->bert) {
        m->st = clf_bert_load(m->ctx, dp->path, dp->cfg, &m->bert);
        if (m->st == CLF_OK) /* checked here before each write: no read-back per run */
            clf_bert_set_ids_checked(m->bert, true);
    } else if (dp->path)
        m->st = clf_encoder_load(m->ctx, dp->cfg, dp->path, &m->enc);
    else
        m->st = clf_encoder_create_random(m->ctx, dp->cfg, dp->seed, &m->enc);
}

/* What the _rank constructors check of comm (on ctx). */
static enum clf_status check_comm(struct clf_ctx *ctx, const struct clf_dp_comm *comm)
{
    return clf_check_comm(ctx, comm, comm && comm->gather, "gather", comm ? comm->rank : 0,
                          comm ? comm->size : 0);
}

/* Every constructor: the replicas on the group's members (grp), or on ctx
 * as comm's rank. bert: path is the model directory and cfg its options
 * (may be NULL). */
static enum clf_status make_dp(struct clf_group *grp, struct clf_ctx *ctx,
                               const struct clf_dp_comm *comm, bool bert,
                               const struct clf_encoder_config *cfg, const char *path,
                               uint64_t seed, struct clf_dp **out)
{
    ctx = grp ? clf_group_ctx(grp, 0) : ctx; /* where errors go */
    if (out)
        *out = NULL;
    if (!out || !ctx)
        return CLF_E_INVALID_ARG;
    const char *missing = bert ? (path ? NULL : "model directory")
                               : (cfg ? NULL : "encoder configuration");
    if (missing)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "NULL %s", missing);
    enum clf_status st = grp ? CLF_OK : check_comm(ctx, comm);
    if (st != CLF_OK)
        return st;
    struct clf_dp *dp = calloc(1, sizeof *dp);
    const int nlocal = grp ? clf_group_size(grp) : 1;
    if (dp && (dp->m = calloc((size_t)nlocal, sizeof *dp->m)) != NULL)
        dp->nlocal = nlocal; /* what destroy frees */
    if (!dp || !dp->m) {
        clf_dp_destroy(dp);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no host memory for a data-parallel runner");
    }
    dp->comm = grp ? (struct clf_dp_comm){0, nlocal, NULL, NULL} : *comm;
    dp->n = dp->comm.size;
    dp->bert = bert;
    dp->cfg = cfg, dp->path = path, dp->seed = seed;
    for (int i = 0; i < nlocal; i++)
        dp->m[i].ctx = grp ? clf_group_ctx(grp, i) : ctx;
    run_members(dp, make_replica);
    dp->cfg = NULL, dp->path = NULL; /* the caller's, not kept */
    st = members_status(dp);
    if (st != CLF_OK) {
        clf_dp_destroy(dp);
        return st;
    }
    dp->d = bert ? clf_bert_config(dp->m[0].bert).d_model : dp->m[0].enc->cfg.d_model;
    dp->pool_modes = CLF_POOL_MEAN, dp->pool_normalize = true, dp->ragged = true;
    *out = dp;
    return CLF_OK;
}

enum clf_status clf_dp_create(struct clf_group *grp, const struct clf_encoder_config *cfg,
                              const char *path, uint64_t seed, struct clf_dp **out)
{
    if (!grp && out)
        *out = NULL;
    return grp ? make_dp(grp, NULL, NULL, false, cfg, path, seed, out) : CLF_E_INVALID_ARG;
}

enum clf_status clf_dp_create_rank(struct clf_ctx *ctx, const struct clf_encoder_config *cfg,
                                   const char *path, uint64_t seed,
                                   const struct clf_dp_comm *comm, struct clf_dp **out)
{
    return make_dp(NULL, ctx, comm, false, cfg, path, seed, out);
}

enum clf_status clf_dp_create_bert(struct clf_group *grp, const char *model_dir,
                                   const struct clf_encoder_config *options, struct clf_dp **out)
{
    if (!grp && out)
        *out = NULL;
    return grp ? make_dp(grp, NULL, NULL, true, options, model_dir, 0, out) : CLF_E_INVALID_ARG;
}

enum clf_status clf_dp_create_bert_rank(struct clf_ctx *ctx, const char *model_dir,
                                        const struct clf_encoder_config *options,
                                        const struct clf_dp_comm *comm, struct clf_dp **out)
{
    return make_dp(NULL, ctx, comm, true, options, model_dir, 0, out);
}

int clf_dp_members(const struct clf_dp *dp)
{
    return dp ? dp->nlocal : 0;
}

struct clf_encoder *clf_dp_encoder(struct clf_dp *dp, int i)
{
    if (!dp || i < 0 || i >= dp->nlocal)
        return NULL;
    return dp->bert ? clf_bert_encoder(dp->m[i].bert) : dp->m[i].enc;
}

struct clf_graph *clf_dp_graph(struct clf_dp *dp, int i)
{
    return dp && i >= 0 && i < dp->nlocal && dp->m[i].last ? dp->m[i].last->g : NULL;
}

uint64_t clf_dp_recorded(const struct clf_dp *dp, int i)
{
    return dp && i >= 0 && i < dp->nlocal ? dp->m[i].recorded : 0;
}

enum clf_status clf_dp_timings(const struct clf_dp *dp, struct clf_dp_timings *out)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    if (!out)
        return clf_fail(dp->m[0].ctx, CLF_E_INVALID_ARG, "clf_dp_timings: NULL output");
    struct clf_dp_timings t = {.size = sizeof t, .text_ms = dp->text_ms};
    for (int i = 0; i < dp->nlocal; i++) {
        const struct clf_dp_timings *mt = &dp->m[i].t;
        t.batches += mt->batches;
        t.recorded += mt->recorded;
        t.record_ms += mt->record_ms;
        t.host_ms += mt->host_ms;
        t.run_ms += mt->run_ms;
        t.device_ms += mt->device_ms;
        t.untimed += mt->untimed;
    }
    return clf_abi_export(dp->m[0].ctx, "clf_dp_timings", out, &t, sizeof t);
}

void clf_dp_timings_reset(struct clf_dp *dp)
{
    if (!dp)
        return;
    dp->text_ms = 0;
    for (int i = 0; i < dp->nlocal; i++)
        dp->m[i].t = (struct clf_dp_timings){0};
}

/* ------------------------------------------------------------------------ */
/* Running                                                                  */
/* ------------------------------------------------------------------------ */

/* Records the sentence embedding on member m's graph from the last hidden
 * states h: the pooling (normalised and truncated there when no Dense layer
 * follows), else each Dense layer (act(x·Wᵀ + b), one GEMM with its bias
 * and activation) and then the truncation and normalisation. */
static enum clf_status record_pooling(struct clf_dp *dp, struct dp_member *m,
                                      struct dp_shape *s, struct clf_tensor *h)
{
    if (!dp->n_dense)
        return clf_pooling_sentence(s->g, h, s->pad, dp->pool_modes, dp->dims,
                                    dp->pool_normalize, dp->pool_skip, &s->out);
    struct clf_tensor *x = NULL;
    enum clf_status st =
        clf_pooling_sentence(s->g, h, s->pad, dp->pool_modes, 0, false, dp->pool_skip, &x);
    for (size_t k = 0; st == CLF_OK && k < dp->n_dense; k++) {
        struct clf_gemm_params p = clf_gemm_params_default();
        p.trans_b = true;
        p.bias = m->dense_b[k];
        p.act = dp->dense_act[k];
        struct clf_tensor *y = NULL;
        st = clf_op_gemm(s->g, x, m->dense_w[k], &p, &y);
        x = y;
    }
    if (st == CLF_OK)
        st = clf_pooling_truncate_normalize(s->g, x, dp->dims, dp->pool_normalize, &s->out);
    return st;
}

/* Records in slot s (free) member m's graph for count items of seq tokens,
 * padded or not: its inputs s->in (x f32 [count, seq, d], or ids i32
 * [count, seq]) and s->pad (key padding, or BERT's mask: i32 [count, seq]).
 * On failure the slot stays free. */
static enum clf_status record(struct clf_dp *dp, struct dp_member *m, struct dp_shape *s,
                              int64_t count, int64_t seq, bool padded, int64_t tokens)
{
    const int64_t ps[2] = {count, seq}, xs[3] = {count, seq, dp->d};
    enum clf_status st = dp->bert ? clf_tensor_create(m->ctx, CLF_I32, 2, ps, &s->in)
                                  : clf_tensor_create(m->ctx, CLF_F32, 3, xs, &s->in);
    if (st == CLF_OK && padded)
        st = clf_tensor_create(m->ctx, CLF_I32, 2, ps, &s->pad);
    if (st == CLF_OK && tokens) { /* the layout ragged_form fills */
        const int64_t is[1] = {count + 1 + count * seq + tokens}, cs[1] = {count + 1},
                      ts[1] = {tokens}, one[1] = {1}, rs[2] = {seq, 1};
        st = clf_tensor_create(m->ctx, CLF_I32, 1, is, &s->index);
        if (st == CLF_OK)
            st = clf_tensor_view(s->index, 1, cs, one, 0, &s->offsets);
        if (st == CLF_OK)
            st = clf_tensor_view(s->index, 2, ps, rs, count + 1, &s->unpack);
        if (st == CLF_OK)
            st = clf_tensor_view(s->index, 1, ts, one, count + 1 + count * seq, &s->pack);
    }
    if (st == CLF_OK)
        st = clf_graph_create(m->ctx, &s->g);
    if (st == CLF_OK)
        m->recorded++, m->t.recorded++;
    struct clf_tensor *h = NULL;
    if (st == CLF_OK && dp->bert && tokens)
        st = clf_bert_forward_ragged(m->bert, s->g, s->in, s->pad, s->pack, s->unpack,
                                     s->offsets, seq, &h);
    else if (st == CLF_OK && dp->bert)
        st = clf_bert_forward(m->bert, s->g, s->in, s->pad, &h);
    if (st == CLF_OK && dp->bert)
        st = record_pooling(dp, m, s, h);
    else if (st == CLF_OK)
        st = clf_encoder_forward(m->enc, s->g, s->in, s->pad, &s->out);
    /* a graph that cannot fit is refused now, before the caller's input is
     * written into s->in (2 GiB for `run --seq 1048576`: seconds) */
    if (st == CLF_OK)
        st = clf_graph_check_fit(s->g);
    if (st != CLF_OK) {
        drop_one(m, s);
        return st;
    }
    s->count = count, s->seq = seq, s->padded = padded, s->tokens = tokens;
    return CLF_OK;
}

/* Member m's shape for (count, seq, padded): a kept one, or one recorded
 * now in a free slot or in the least recently run one's. */
static enum clf_status shape_for(struct clf_dp *dp, struct dp_member *m, int64_t count,
                                 int64_t seq, bool padded, int64_t tokens,
                                 struct dp_shape **out)
{
    struct dp_shape *lru = &m->shapes[0];
    for (int i = 0; i < DP_SHAPES; i++) {
        struct dp_shape *s = &m->shapes[i];
        if (s->g && s->count == count && s->seq == seq && s->padded == padded &&
            s->tokens == tokens) {
            *out = s;
            return CLF_OK;
        }
        if (lru->g && (!s->g || s->used < lru->used))
            lru = s;
    }
    drop_one(m, lru);
    *out = lru;
    const double t0 = clf_now_ms();
    enum clf_status st = record(dp, m, lru, count, seq, padded, tokens);
    m->t.record_ms += clf_now_ms() - t0;
    return st;
}

/* A BERT batch's ragged form, when it is to run so (not turned off, the
 * model and device able, more than one item, padding in it, each mask row
 * a run of tokens then padding and no row empty): its tokens, and in
 * *arrays (the caller frees it) the arrays of clf_bert_forward_ragged end
 * to end, as struct dp_shape's index holds them: offsets [count + 1],
 * unpack [count, seq], pack [tokens]. 0 otherwise, or when no memory is
 * left for the arrays (it runs padded). */
static int64_t ragged_form(const struct clf_dp *dp, const struct dp_member *m,
                           const int32_t *mask, int64_t count, int64_t seq, int32_t **arrays)
{
    *arrays = NULL;
    if (!dp->bert || !mask || count < 2 || !dp->ragged || !clf_bert_can_ragged(m->bert) ||
        count * seq > INT32_MAX)
        return 0;
    int32_t *a = malloc((size_t)(count + 1 + 2 * count * seq) * sizeof *a);
    if (!a)
        return 0;
    int32_t *offsets = a, *unpack = a + count + 1, *pack = unpack + count * seq;
    offsets[0] = 0;
    for (int64_t b = 0; b < count; b++) {
        const int32_t *r = mask + b * seq;
        int64_t len = 0;
        while (len < seq && r[len])
            len++;
        bool holes = len == 0; /* no row empty, no token after padding */
        for (int64_t j = len; j < seq && !holes; j++)
            holes = r[j] != 0;
        if (holes) {
            free(a);
            return 0;
        }
        offsets[b + 1] = offsets[b] + (int32_t)len;
    }
    const int64_t tokens = offsets[count];
    if (tokens == count * seq) {
        free(a);
        return 0;
    }
    for (int64_t b = 0; b < count; b++)
        for (int64_t j = 0; j < seq; j++) {
            const bool token = offsets[b] + j < offsets[b + 1];
            unpack[b * seq + j] = token ? offsets[b] + (int32_t)j : 0;
            if (token)
                pack[offsets[b] + j] = (int32_t)(b * seq + j);
        }
    *arrays = a;
    return tokens;
}

/* After shape s's run: its planned memory noted, and the least recently
 * run other shapes dropped while the kept graphs' memory exceeds the
 * budget (DP_SHAPE_BYTES). */
static void keep_within_budget(struct dp_member *m, struct dp_shape *s)
{
    size_t naive = 0;
    if (!s->bytes && clf_graph_memory(s->g, &s->bytes, &naive) != CLF_OK)
        s->bytes = 0;
    for (;;) {
        size_t total = 0, largest = 0;
        struct dp_shape *lru = NULL;
        for (int i = 0; i < DP_SHAPES; i++) {
            struct dp_shape *t = &m->shapes[i];
            if (!t->g)
                continue;
            total += t->bytes;
            largest = t->bytes > largest ? t->bytes : largest;
            if (t != s && (!lru || t->used < lru->used))
                lru = t;
        }
        const size_t budget = largest + (4 * largest > DP_SHAPE_BYTES ? 4 * largest
                                                                      : DP_SHAPE_BYTES);
        if (total <= budget || !lru)
            return;
        drop_one(m, lru);
    }
}

/* The device time of g's latest run into m's timings: its nodes' command
 * durations summed, or one untimed run (no profiling, or a replay). */
static void add_device_time(struct dp_member *m, const struct clf_graph *g)
{
    double ms = 0;
    for (size_t i = 0; i < g->n_nodes; i++) {
        if (!g->nodes[i].timed) {
            m->t.untimed++;
            return;
        }
        ms += g->nodes[i].time_ms;
    }
    m->t.device_ms += ms;
}

/* Runs count items of seq tokens on member m: in (x [count, seq, d] f32,
 * or ids [count, seq] i32) and pad ([count, seq] i32, or NULL) through
 * its graph for that shape (kept, or recorded now), the output into out
 * ([count, seq, d], or [count, d]). */
static enum clf_status run_items(struct clf_dp *dp, struct dp_member *m, const void *in,
                                 const int32_t *pad, int64_t count, int64_t seq, float *out)
{
    struct dp_shape *s = NULL;
    int32_t *arrays = NULL;
    double t0 = clf_now_ms(), record_before = m->t.record_ms;
    enum clf_status st = dp->bert ? clf_bert_check_ids(m->bert, in, count, seq) : CLF_OK;
    if (st != CLF_OK)
        return st;
    const int64_t packed = ragged_form(dp, m, pad, count, seq, &arrays);
    st = shape_for(dp, m, count, seq, pad != NULL, packed, &s);
    if (st != CLF_OK) {
        free(arrays);
        return st;
    }
    s->used = ++m->runs;
    m->last = s;
    const size_t tokens = (size_t)(count * seq);
    st = clf_tensor_write(s->in, in, tokens * (dp->bert ? sizeof(int32_t)
                                                       : (size_t)dp->d * sizeof(float)));
    if (st == CLF_OK && pad)
        st = clf_tensor_write(s->pad, pad, tokens * sizeof(int32_t));
    if (st == CLF_OK && packed)
        st = clf_tensor_write(s->index, arrays,
                              ((size_t)count + 1 + tokens + (size_t)packed) * sizeof *arrays);
    free(arrays);
    /* the host work so far, less a recording (record_ms has it) */
    m->t.host_ms += clf_now_ms() - t0 - (m->t.record_ms - record_before);
    if (st == CLF_OK) {
        t0 = clf_now_ms();
        st = clf_graph_run(s->g);
        m->t.run_ms += clf_now_ms() - t0;
        m->t.batches++;
        add_device_time(m, s->g);
    }
    t0 = clf_now_ms();
    if (st == CLF_OK)
        st = clf_tensor_read(s->out, out, (size_t)count * item_floats(dp, seq) * sizeof(float));
    m->t.host_ms += clf_now_ms() - t0;
    if (st == CLF_OK)
        keep_within_budget(m, s);
    return st;
}

/* Member i's calibration: on the whole batch (an encoder), or on
 * batches[0] (BERT); its recorded graph dropped (it holds the quantisers'
 * parameters). */
static void calibrate_member(struct clf_dp *dp, struct dp_member *m)
{
    const struct dp_call *c = &dp->call;
    const int64_t count = dp->bert ? c->batches[0].batch : c->batch;
    const int64_t seq = dp->bert ? c->batches[0].seq : c->seq;
    const int32_t *pad = dp->bert ? c->batches[0].mask : c->pad;
    const int64_t ps[2] = {count, seq}, xs[3] = {count, seq, dp->d};
    const size_t tokens = (size_t)(count * seq);
    struct clf_tensor *in = NULL, *tp = NULL;
    drop_shapes(m);
    if (dp->bert)
        m->st = clf_tensor_create(m->ctx, CLF_I32, 2, ps, &in);
    else
        m->st = clf_tensor_create(m->ctx, CLF_F32, 3, xs, &in);
    if (m->st == CLF_OK && dp->bert)
        m->st = clf_bert_check_ids(m->bert, c->batches[0].ids, count, seq);
    if (m->st == CLF_OK && dp->bert)
        m->st = clf_tensor_write(in, c->batches[0].ids, tokens * sizeof(int32_t));
    else if (m->st == CLF_OK)
        m->st = clf_tensor_write(in, c->x, tokens * (size_t)dp->d * sizeof(float));
    if (m->st == CLF_OK && pad)
        m->st = clf_tensor_create(m->ctx, CLF_I32, 2, ps, &tp);
    if (m->st == CLF_OK && pad)
        m->st = clf_tensor_write(tp, pad, tokens * sizeof(int32_t));
    if (m->st == CLF_OK && dp->bert)
        m->st = clf_bert_calibrate(m->bert, in, tp);
    else if (m->st == CLF_OK)
        m->st = clf_encoder_calibrate(m->enc, in, tp);
    clf_tensor_destroy(in);
    clf_tensor_destroy(tp);
}

/* The output floats before BERT batch k (the batches' items before it). */
static size_t batch_offset(const struct clf_dp *dp, size_t k)
{
    size_t items = 0;
    for (size_t j = 0; j < k; j++)
        items += (size_t)dp->call.batches[j].batch;
    return items * (size_t)embed_cols(dp);
}

/* Member i's part of a call: a calibration; or its share of the items
 * (an encoder) or of the batches (BERT, each batch whole), its output
 * into its place in the call's output. */
static void run_member(struct clf_dp *dp, int i)
{
    struct dp_member *m = &dp->m[i];
    const struct dp_call *c = &dp->call;
    m->st = CLF_OK;
    if (c->calibrate) {
        calibrate_member(dp, m);
        return;
    }
    int64_t first, count;
    share(dp->bert ? (int64_t)c->nbatches : c->batch, dp->n, rank_of(dp, i), &first, &count);
    /* an idle member keeps its recorded graph for a later call */
    if (!dp->bert && count) {
        const size_t at = (size_t)(first * c->seq);
        m->st = run_items(dp, m, c->x + at * (size_t)dp->d, c->pad ? c->pad + at : NULL, count,
                          c->seq, c->out + at * (size_t)dp->d);
    }
    size_t at = dp->bert ? batch_offset(dp, (size_t)first) : 0;
    for (int64_t k = first; dp->bert && m->st == CLF_OK && k < first + count; k++) {
        const struct clf_dp_batch *b = &c->batches[k];
        m->st = run_items(dp, m, b->ids, b->mask, b->batch, b->seq, c->out + at);
        at += (size_t)(b->batch * embed_cols(dp));
    }
}

/* Checks one batch's arguments (on member 0's context). */
static enum clf_status check_batch(struct clf_dp *dp, const void *in, int64_t batch,
                                   int64_t seq)
{
    struct clf_ctx *ctx0 = dp->m[0].ctx;
    if (!in)
        return clf_fail(ctx0, CLF_E_INVALID_ARG, "NULL input of the runner");
    if (batch < 1 || seq < 1 || batch > (1 << 20) || seq > (1 << 20) ||
        batch * seq > (INT64_C(1) << 40) / dp->d)
        return clf_fail(ctx0, CLF_E_SHAPE, "data-parallel input [%lld, %lld] out of range",
                        (long long)batch, (long long)seq);
    return CLF_OK;
}

/* Checks a call's arguments (on member 0's context). */
static enum clf_status check_call(struct clf_dp *dp, bool bert)
{
    struct clf_ctx *ctx0 = dp->m[0].ctx;
    const struct dp_call *c = &dp->call;
    if (bert != dp->bert)
        return clf_fail(ctx0, CLF_E_INVALID_ARG, "this data-parallel runner holds %s: use %s",
                        dp->bert ? "BERT" : "an encoder",
                        dp->bert ? "clf_dp_embed" : "clf_dp_forward");
    if (!c->calibrate && !c->out)
        return clf_fail(ctx0, CLF_E_INVALID_ARG, "NULL output of the runner");
    if (!bert)
        return check_batch(dp, c->x, c->batch, c->seq);
    if (!c->batches || !c->nbatches || c->nbatches > (size_t)INT32_MAX)
        return clf_fail(ctx0, CLF_E_INVALID_ARG, "no batches (or more than 2^31)");
    enum clf_status st = CLF_OK;
    for (size_t k = 0; st == CLF_OK && k < c->nbatches; k++) {
        st = check_batch(dp, c->batches[k].ids, c->batches[k].batch, c->batches[k].seq);
        if (st == CLF_OK && !c->batches[k].mask)
            st = clf_fail(ctx0, CLF_E_INVALID_ARG, "batch %zu: NULL mask", k);
    }
    return st;
}

/* Runs dp->call (set by the caller) on every local member: a forward, or
 * a calibration; for a forward on a rank, then the caller's gather. */
static enum clf_status run(struct clf_dp *dp, bool bert)
{
    const struct dp_call *c = &dp->call;
    enum clf_status st = check_call(dp, bert);
    size_t *counts = NULL;
    if (st == CLF_OK && !c->calibrate && dp->comm.gather &&
        !(counts = calloc((size_t)dp->n, sizeof *counts)))
        st = clf_fail(dp->m[0].ctx, CLF_E_OUT_OF_MEMORY, "no host memory for the gather");
    if (st == CLF_OK) {
        run_members(dp, run_member);
        st = members_status(dp);
    }
    const bool gather = !c->calibrate && dp->comm.gather;
    /* a rank's block of the output: its share's items (or batches') floats */
    for (int r = 0; gather && counts && r < dp->n; r++) {
        int64_t first, count;
        share(bert ? (int64_t)c->nbatches : c->batch, dp->n, r, &first, &count);
        counts[r] = bert ? batch_offset(dp, (size_t)(first + count)) -
                               batch_offset(dp, (size_t)first)
                         : (size_t)count * item_floats(dp, c->seq);
    }
    /* a rank: the others are, or will be, in the gather */
    const bool ok = st == CLF_OK;
    if (gather && !dp->comm.gather(dp->comm.user, ok ? c->out : NULL, ok ? counts : NULL, ok) &&
        ok)
        st = clf_fail(dp->m[0].ctx, CLF_E_COMM,
                      "rank %d: the gather of the outputs failed (another rank's failure, or "
                      "the exchange's)",
                      dp->comm.rank);
    free(counts);
    dp->call = (struct dp_call){0};
    return st;
}

enum clf_status clf_dp_forward(struct clf_dp *dp, const float *x, int64_t batch, int64_t seq,
                               const int32_t *key_padding, float *y)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    dp->call = (struct dp_call){.x = x, .pad = key_padding, .batch = batch, .seq = seq, .out = y};
    return run(dp, false);
}

enum clf_status clf_dp_calibrate(struct clf_dp *dp, const float *x, int64_t batch, int64_t seq,
                                 const int32_t *key_padding)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    dp->call = (struct dp_call){
        .x = x, .pad = key_padding, .batch = batch, .seq = seq, .calibrate = true};
    return run(dp, false);
}

enum clf_status clf_dp_embed(struct clf_dp *dp, const struct clf_dp_batch *batches, size_t n,
                             float *out)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    dp->call = (struct dp_call){.batches = batches, .nbatches = n, .out = out};
    return run(dp, true);
}

enum clf_status clf_dp_embed_texts(struct clf_dp *dp, struct clf_tokenizer *tok,
                                   const char *const *texts, size_t n,
                                   const struct clf_embed_params *p, float *out,
                                   size_t *n_tokens, bool *truncated)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = dp->m[0].ctx;
    if (!tok || !texts || !out || n == 0)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "embed texts: NULL arguments or no text");
    if (!dp->bert)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "embed texts: an encoder's runner, not a BERT one");
    struct clf_embed_params ep = clf_embed_params_default(); /* the prompt */
    enum clf_status ist = clf_abi_import(ctx, "clf_embed_params", p, &ep, sizeof ep);
    if (ist != CLF_OK)
        return ist;
    const double t0 = clf_now_ms();
    double run_ms = 0; /* clf_dp_embed's part, not the texts' */
    const size_t cap = (size_t)clf_tokenizer_max_ids(tok);
    int32_t **ids = calloc(n, sizeof *ids);
    size_t *len = calloc(n, sizeof *len);
    float *rows = malloc(n * (size_t)embed_cols(dp) * sizeof *rows);
    enum clf_status st = ids && len && rows ? CLF_OK : CLF_E_OUT_OF_MEMORY;
    if (st != CLF_OK)
        clf_fail(ctx, st, "no memory for %zu texts", n);
    for (size_t i = 0; st == CLF_OK && i < n; i++) {
        bool cut = false;
        ids[i] = malloc(cap * sizeof **ids);
        if (!ids[i]) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for text %zu's ids", i);
        } else if (!texts[i]) {
            st = clf_fail(ctx, CLF_E_INVALID_ARG, "embed texts: text %zu is NULL", i);
        } else if ((st = clf_tokenizer_encode_sentence_len(
                        tok, ep.prompt, texts[i],
                        ep.text_lengths ? ep.text_lengths[i] : strlen(texts[i]), ids[i], cap,
                        &len[i], &cut)) != CLF_OK) {
            struct clf_ctx *tc = clf_tokenizer_ctx(tok);
            char why[512]; /* a copy: tc's message buffer may be ctx's */
            snprintf(why, sizeof why, "%s", tc ? clf_ctx_last_error(tc) : clf_status_str(st));
            clf_fail(ctx, st, "text %zu: %s", i, why);
        }
        if (truncated)
            truncated[i] = cut;
    }
    /* a prompt left out of the pooling: its tokens as it tokenises alone,
     * less the closing special token, as sentence-transformers counts them */
    const int64_t skip_before = dp->pool_skip;
    if (st == CLF_OK && ep.prompt && !ep.pool_prompt) {
        size_t skip = 0;
        st = clf_tokenizer_prompt_tokens(tok, ep.prompt, &skip);
        if (st == CLF_OK)
            st = clf_dp_set_pooling_skip(dp, (int64_t)skip);
    }
    struct clf_text_batches *bt = NULL;
    if (st == CLF_OK)
        st = clf_text_batches_make(ctx, (const int32_t *const *)ids, len, n, p, &bt);
    if (st == CLF_OK) {
        const double t1 = clf_now_ms();
        st = clf_dp_embed(dp, clf_text_batches_list(bt), clf_text_batches_count(bt), rows);
        run_ms = clf_now_ms() - t1;
    }
    if (dp->pool_skip != skip_before)
        clf_dp_set_pooling_skip(dp, skip_before);
    if (st == CLF_OK) { /* back to the texts' order */
        const size_t *order = clf_text_batches_order(bt), row = (size_t)embed_cols(dp);
        for (size_t s = 0; s < n; s++)
            memcpy(out + order[s] * row, rows + s * row, row * sizeof *out);
    }
    for (size_t i = 0; n_tokens && len && i < n; i++)
        n_tokens[i] = len[i];
    clf_text_batches_destroy(bt);
    for (size_t i = 0; ids && i < n; i++)
        free(ids[i]);
    free(ids);
    free(len);
    free(rows);
    dp->text_ms += clf_now_ms() - t0 - run_ms;
    return st;
}

enum clf_status clf_dp_set_pooling(struct clf_dp *dp, unsigned modes, int64_t dims,
                                   bool normalize)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = dp->m[0].ctx;
    if (!dp->bert)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "pooling: an encoder's runner, not a BERT one");
    const int64_t pooled = clf_pooling_width(modes, dp->d);
    if (!pooled)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "pooling modes 0x%x: not a nonempty set of enum clf_pooling's bits",
                        modes);
    const int64_t width = dp->n_dense ? dp->dense_out : pooled;
    if (dp->n_dense && pooled != dp->dense_in)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "pooling: %lld columns pooled, the first Dense layer takes %lld",
                        (long long)pooled, (long long)dp->dense_in);
    if (dims < 0 || dims > width)
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "pooling: %lld dimensions asked of a %lld-wide vector", (long long)dims,
                        (long long)width);
    dp->pool_modes = modes;
    dp->dims = dims;
    dp->pool_normalize = normalize;
    for (int i = 0; i < dp->nlocal; i++) /* recorded with the previous pooling */
        drop_shapes(&dp->m[i]);
    return CLF_OK;
}

enum clf_status clf_dp_set_folder(struct clf_dp *dp, const struct clf_sentence_folder *f,
                                  unsigned modes, int normalize, int64_t dims)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    if (!f)
        return clf_fail(dp->m[0].ctx, CLF_E_INVALID_ARG, "pooling: no sentence-transformers folder");
    if (!modes)
        modes = clf_sentence_folder_pooling(f);
    const bool norm = normalize < 0 ? clf_sentence_folder_normalize(f) : normalize != 0;
    const size_t n = clf_sentence_folder_dense_count(f);
    struct clf_dense_layer *dense = n ? calloc(n, sizeof *dense) : NULL;
    if (n && !dense)
        return clf_fail(dp->m[0].ctx, CLF_E_OUT_OF_MEMORY, "no memory for the Dense layers");
    enum clf_status st = CLF_OK;
    for (size_t i = 0; st == CLF_OK && i < n; i++)
        st = clf_sentence_folder_dense(f, i, &dense[i]);
    /* the modes first: the Dense layers take the pooled width; then the
       truncation against their output */
    if (st == CLF_OK)
        st = clf_dp_set_dense(dp, NULL, 0);
    if (st == CLF_OK)
        st = clf_dp_set_pooling(dp, modes, 0, norm);
    if (st == CLF_OK)
        st = clf_dp_set_dense(dp, dense, n);
    if (st == CLF_OK)
        st = clf_dp_set_pooling(dp, modes, dims, norm);
    if (st != CLF_OK)
        clf_dp_set_dense(dp, NULL, 0);
    free(dense);
    return st;
}

enum clf_status clf_dp_set_ragged(struct clf_dp *dp, bool on)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    dp->ragged = on; /* the kept shapes stay: a padded batch's key differs */
    return CLF_OK;
}

enum clf_status clf_dp_set_pooling_skip(struct clf_dp *dp, int64_t tokens)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    if (!dp->bert || tokens < 0)
        return clf_fail(dp->m[0].ctx, CLF_E_INVALID_ARG,
                        "pooling: %lld leading tokens to leave out%s", (long long)tokens,
                        dp->bert ? "" : " of an encoder's runner, not a BERT one");
    if (tokens != dp->pool_skip)
        for (int i = 0; i < dp->nlocal; i++) /* recorded with the previous pooling */
            drop_shapes(&dp->m[i]);
    dp->pool_skip = tokens;
    return CLF_OK;
}

/* Member i's copy of the Dense layers' weights (one thread per member). */
static void upload_dense(struct clf_dp *dp, int i)
{
    struct dp_member *m = &dp->m[i];
    const struct clf_dense_layer *L = dp->call.dense;
    m->st = CLF_OK;
    m->dense_w = calloc(dp->n_dense, sizeof *m->dense_w);
    m->dense_b = calloc(dp->n_dense, sizeof *m->dense_b);
    if (!m->dense_w || !m->dense_b)
        m->st = clf_fail(m->ctx, CLF_E_OUT_OF_MEMORY, "no memory for the Dense layers");
    for (size_t k = 0; m->st == CLF_OK && k < dp->n_dense; k++) {
        const int64_t ws[2] = {L[k].out, L[k].in};
        m->st = clf_tensor_create(m->ctx, CLF_F32, 2, ws, &m->dense_w[k]);
        if (m->st == CLF_OK)
            m->st = clf_tensor_write(m->dense_w[k], L[k].weight,
                                     (size_t)(L[k].out * L[k].in) * sizeof(float));
        if (m->st == CLF_OK && L[k].bias)
            m->st = clf_tensor_create(m->ctx, CLF_F32, 1, &L[k].out, &m->dense_b[k]);
        if (m->st == CLF_OK && L[k].bias)
            m->st = clf_tensor_write(m->dense_b[k], L[k].bias, (size_t)L[k].out * sizeof(float));
    }
}

enum clf_status clf_dp_set_dense(struct clf_dp *dp, const struct clf_dense_layer *layers,
                                 size_t n)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    struct clf_ctx *ctx = dp->m[0].ctx;
    if (!dp->bert)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "dense: an encoder's runner, not a BERT one");
    if (n && !layers)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "dense: NULL layers");
    const int64_t pooled = clf_pooling_width(dp->pool_modes, dp->d);
    for (size_t k = 0; k < n; k++) {
        const struct clf_dense_layer *L = &layers[k];
        const int64_t want = k ? layers[k - 1].out : pooled;
        if (!L->weight || L->in != want || L->out < 1 || L->out > (1 << 20) ||
            (unsigned)L->act > CLF_ACT_TANH)
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "dense layer %zu: needs weights [out, %lld] (out in [1, 2^20]) and "
                            "an activation of enum clf_act",
                            k, (long long)want);
    }
    enum clf_act *acts = n ? malloc(n * sizeof *acts) : NULL;
    if (n && !acts)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the Dense layers");
    for (int i = 0; i < dp->nlocal; i++) {
        drop_shapes(&dp->m[i]);
        drop_dense(dp, &dp->m[i]);
    }
    free(dp->dense_act);
    dp->dense_act = acts;
    dp->n_dense = n;
    for (size_t k = 0; k < n; k++)
        acts[k] = layers[k].act;
    dp->dense_in = n ? layers[0].in : 0;
    dp->dense_out = n ? layers[n - 1].out : 0;
    dp->dims = 0;
    enum clf_status st = CLF_OK;
    if (n) {
        dp->call = (struct dp_call){.dense = layers};
        run_members(dp, upload_dense);
        st = members_status(dp);
        dp->call = (struct dp_call){0};
    }
    if (st != CLF_OK) { /* none then, rather than some members' */
        for (int i = 0; i < dp->nlocal; i++)
            drop_dense(dp, &dp->m[i]);
        free(dp->dense_act);
        dp->dense_act = NULL;
        dp->n_dense = 0;
    }
    return st;
}

int64_t clf_dp_embed_dim(const struct clf_dp *dp)
{
    return dp && dp->bert ? embed_cols(dp) : 0;
}

enum clf_status clf_dp_calibrate_embed(struct clf_dp *dp, const struct clf_dp_batch *batch)
{
    if (!dp)
        return CLF_E_INVALID_ARG;
    dp->call = (struct dp_call){.batches = batch, .nbatches = batch ? 1 : 0, .calibrate = true};
    return run(dp, true);
}
