/*
 * `clformer bench ffn`: low-rank (SVD) and Tensor-Train feed-forward
 * weights against dense ones, inside one post-LN encoder layer (seq 512,
 * 12 heads) at d_model 384 / d_ff 1536 and 768 / 3072. For each format:
 * parameters and FLOPs per token of W1 and W2 as stored, the FFN's device
 * time (the nodes between the layer's two LayerNorms, so the attention is
 * left out), the layer's time, the weights' approximation errors, the
 * layer output's error against the dense layer, and the preparation time
 * (factorisation). Then the break-even rank: where a least-squares line
 * through the SVD rows' FFN times meets the dense time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"

/* Device ms of the nodes between the first two LayerNorms of g's latest
 * run (a post-LN layer's FFN), or -1. */
static double ffn_ms(struct clf_graph *g)
{
    int seen = 0;
    double ms = 0;
    for (size_t i = 0; i < clf_graph_node_count(g) && seen < 2; i++) {
        struct clf_node_info info = {.size = sizeof info};
        if (clf_graph_node_info(g, i, &info) != CLF_OK)
            return -1;
        if (!strcmp(info.op, "layernorm")) {
            seen++;
            continue;
        }
        if (seen == 1) {
            if (!info.timed)
                return -1;
            ms += info.time_ms;
        }
    }
    return seen == 2 ? ms : -1;
}

struct ffn_row {
    char name[64];
    struct clf_ffn_stats stats;
    double prep_ms, layer_ms, ffn_ms, out_error;
};

/* One format on one shape: fills row; out receives the layer output. */
static int run_format(struct clf_ctx *ctx, const struct bench_opts *o, int64_t d, int64_t f,
                      const char *spec, const float *x, int64_t seq, float *out,
                      struct ffn_row *row)
{
    struct clf_encoder_config c = clf_encoder_config_default();
    char msg[160];
    c.d_model = d;
    c.heads = 12;
    c.d_ff = f;
    c.layers = 1;
    c.act = CLF_ACT_GELU;
    if (clf_ffn_factor_parse(spec, &c.ffn, msg, sizeof msg) != CLF_OK)
        return cli_error("--ffn %s: %s", spec, msg);
    clf_ffn_factor_str(&c.ffn, row->name, sizeof row->name);
    struct clf_encoder *enc = NULL;
    struct clf_graph *g = NULL;
    struct clf_tensor *tx = NULL, *y = NULL;
    const int64_t xs[3] = {1, seq, d};
    double t0 = cli_now_ms();
    enum clf_status st = clf_encoder_create_random(ctx, &c, 1, &enc);
    row->prep_ms = cli_now_ms() - t0;
    if (st == CLF_OK)
        st = clf_encoder_ffn_stats(enc, 0, &row->stats);
    if (st == CLF_OK && !(tx = bench_upload(ctx, 3, xs, x)))
        st = CLF_E_OUT_OF_MEMORY;
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_encoder_forward(enc, g, tx, NULL, &y);
    row->layer_ms = st == CLF_OK ? bench_time_graph(ctx, g, o->runs) : -1;
    row->ffn_ms = row->layer_ms >= 0 ? ffn_ms(g) : -1;
    if (row->layer_ms >= 0 &&
        clf_tensor_read(y, out, (size_t)(seq * d) * sizeof *out) != CLF_OK)
        row->layer_ms = -1;
    clf_graph_destroy(g);
    clf_tensor_destroy(tx);
    clf_encoder_destroy(enc);
    if (row->layer_ms < 0)
        return cli_error("ffn %s: %s", spec, clf_ctx_last_error(ctx));
    return CLI_OK;
}

static int bench_shape(struct clf_ctx *ctx, const struct bench_opts *o, int64_t d, int64_t f,
                       cJSON *arr)
{
    static const char *specs[] = {"dense", "svd:32", "svd:64",  "svd:128", "svd:256",
                                  "rsvd:128", "tt:8",  "tt:16", "tt:32"};
    enum { N = sizeof specs / sizeof specs[0] };
    const int64_t seq = o->seq ? o->seq : 512;
    const size_t n = (size_t)(seq * d);
    float *x = malloc(n * sizeof *x), *dense = malloc(n * sizeof *dense),
          *out = malloc(n * sizeof *out);
    struct ffn_row rows[N];
    int rc = x && dense && out ? CLI_OK : cli_error("out of host memory");
    if (rc == CLI_OK)
        bench_fill(x, n, 51);
    for (int i = 0; rc == CLI_OK && i < N; i++) {
        struct ffn_row *r = &rows[i];
        rc = run_format(ctx, o, d, f, specs[i], x, seq, i ? out : dense, r);
        if (rc != CLI_OK)
            break;
        r->out_error = i ? bench_rel_error(out, dense, n) : 0;
        const struct clf_ffn_stats *s = &r->stats;
        char label[96];
        snprintf(label, sizeof label, "ffn %lldx%lld %s", (long long)d, (long long)f, r->name);
        if (o->json) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "op", "ffn");
            cJSON_AddNumberToObject(e, "d_model", (double)d);
            cJSON_AddNumberToObject(e, "d_ff", (double)f);
            cJSON_AddStringToObject(e, "format", r->name);
            cJSON_AddNumberToObject(e, "params", (double)s->params);
            cJSON_AddNumberToObject(e, "dense_params", (double)s->dense_params);
            cJSON_AddNumberToObject(e, "flops_per_token", s->flops_per_token);
            cJSON_AddNumberToObject(e, "dense_flops_per_token", s->dense_flops_per_token);
            cJSON_AddNumberToObject(e, "rank_w1", (double)s->rank[0]);
            cJSON_AddNumberToObject(e, "rank_w2", (double)s->rank[1]);
            cJSON_AddNumberToObject(e, "ffn_ms", r->ffn_ms);
            cJSON_AddNumberToObject(e, "dense_ffn_ms", rows[0].ffn_ms);
            cJSON_AddNumberToObject(e, "layer_ms", r->layer_ms);
            cJSON_AddNumberToObject(e, "weight_error_w1", s->rel_error[0]);
            cJSON_AddNumberToObject(e, "weight_error_w2", s->rel_error[1]);
            cJSON_AddNumberToObject(e, "layer_output_error", r->out_error);
            cJSON_AddNumberToObject(e, "prepare_ms", r->prep_ms);
            cJSON_AddItemToArray(arr, e);
        } else {
            printf("%-24s params %5.3fx | FLOPs/token %6.3fx | FFN %8.3f ms (%5.2fx dense) | "
                   "layer %8.3f ms | weight error %.2e, %.2e | layer output error %.2e | "
                   "prepare %7.1f ms\n",
                   label, (double)s->params / (double)s->dense_params,
                   s->flops_per_token / s->dense_flops_per_token, r->ffn_ms,
                   rows[0].ffn_ms / r->ffn_ms, r->layer_ms, s->rel_error[0], s->rel_error[1],
                   r->out_error, r->prep_ms);
        }
    }
    if (rc == CLI_OK) {
        /* FFN time against the SVD rank: least squares t = a + b·r */
        double sr = 0, st = 0, srr = 0, srt = 0;
        int m = 0;
        for (int i = 0; i < N; i++)
            if (!strncmp(rows[i].name, "svd:", 4)) {
                double r = (double)rows[i].stats.rank[0], t = rows[i].ffn_ms;
                sr += r, st += t, srr += r * r, srt += r * t, m++;
            }
        double b = (m * srt - sr * st) / (m * srr - sr * sr), a = (st - b * sr) / m;
        double measured = b > 0 ? (rows[0].ffn_ms - a) / b : INFINITY;
        double flops = (double)(d * f) / (double)(d + f);
        if (o->json) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "op", "ffn-break-even");
            cJSON_AddNumberToObject(e, "d_model", (double)d);
            cJSON_AddNumberToObject(e, "d_ff", (double)f);
            cJSON_AddNumberToObject(e, "measured_rank", measured);
            cJSON_AddNumberToObject(e, "flop_rank", flops);
            cJSON_AddItemToArray(arr, e);
        } else {
            printf("ffn %lldx%lld break-even SVD rank: measured %.0f (FFN time %.3f + %.5f ms per "
                   "rank against dense %.3f ms), by FLOPs d·f/(d+f) = %.0f\n",
                   (long long)d, (long long)f, measured, a, b, rows[0].ffn_ms, flops);
        }
    }
    free(x), free(dense), free(out);
    return rc;
}

int bench_ffn(struct clf_ctx *ctx, const struct bench_opts *o, cJSON *arr)
{
    int rc = bench_shape(ctx, o, 384, 1536, arr);
    return rc == CLI_OK ? bench_shape(ctx, o, 768, 3072, arr) : rc;
}
