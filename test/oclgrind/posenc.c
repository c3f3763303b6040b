/*
 * The positional-encoding kernels (cl/posenc.cl) on one tiny shape, for
 * test/oclgrind.sh: no command adds a positional table, so this program
 * does, through the public API, on the default device. x [2, 7, 10] (no
 * size a multiple of a work-group) plus the sinusoidal table of 9 rows,
 * then plus its rank-3 factorisation U·V; both outputs compared with the
 * host's sums (exits 1 on a difference beyond f32 rounding, or an error).
 */
#include <math.h>
#include <stdio.h>

#include <clformer.h>

enum { B = 2, S = 7, D = 10, L = 9, R = 3 };

/* |got - want| within a few f32 roundings of the terms' magnitude */
static int compare(const float *got, const double *want, const double *mag, const char *what)
{
    for (int i = 0; i < B * S * D; i++)
        if (fabs(got[i] - want[i]) > 8 * 0x1p-24 * (mag[i] + 1e-30)) {
            fprintf(stderr, "oclgrind-posenc: %s[%d] = %.9g, host %.9g\n", what, i, got[i],
                    want[i]);
            return 1;
        }
    return 0;
}

int main(void)
{
    static float x[B * S * D], pe[L * D], u[L * R], v[R * D], y_add[B * S * D],
        y_low[B * S * D];
    for (int i = 0; i < B * S * D; i++)
        x[i] = (float)((i * 37 % 101) / 50.0 - 1.0);

    struct clf_ctx *ctx = NULL;
    struct clf_tensor *tx = NULL, *table = NULL, *tu = NULL, *tv = NULL, *add = NULL,
                      *low = NULL;
    struct clf_graph *g = NULL;
    const int64_t shape[3] = {B, S, D};
    enum clf_status st = clf_ctx_create(NULL, &ctx);
    if (st == CLF_OK)
        st = clf_tensor_create(ctx, CLF_F32, 3, shape, &tx);
    if (st == CLF_OK)
        st = clf_tensor_write(tx, x, sizeof x);
    if (st == CLF_OK)
        st = clf_posenc_sinusoidal(ctx, L, D, &table);
    if (st == CLF_OK)
        st = clf_posenc_factorize(ctx, table, R, &tu, &tv, NULL);
    if (st == CLF_OK)
        st = clf_graph_create(ctx, &g);
    if (st == CLF_OK)
        st = clf_op_posenc_add(g, tx, table, &add);
    if (st == CLF_OK)
        st = clf_op_posenc_add_lowrank(g, tx, tu, tv, &low);
    if (st == CLF_OK)
        st = clf_graph_run(g);
    if (st == CLF_OK)
        st = clf_tensor_read(add, y_add, sizeof y_add);
    if (st == CLF_OK)
        st = clf_tensor_read(low, y_low, sizeof y_low);
    if (st == CLF_OK)
        st = clf_tensor_read(table, pe, sizeof pe);
    if (st == CLF_OK)
        st = clf_tensor_read(tu, u, sizeof u);
    if (st == CLF_OK)
        st = clf_tensor_read(tv, v, sizeof v);
    int rc = 0;
    if (st != CLF_OK) {
        fprintf(stderr, "oclgrind-posenc: %s: %s\n", clf_status_str(st),
                ctx ? clf_ctx_last_error(ctx) : "no context");
        rc = 1;
    } else {
        static double want_add[B * S * D], want_low[B * S * D], mag_add[B * S * D],
            mag_low[B * S * D];
        for (int b = 0; b < B; b++)
            for (int s = 0; s < S; s++)
                for (int j = 0; j < D; j++) {
                    int i = (b * S + s) * D + j;
                    double uv = 0, m = fabs(x[i]);
                    for (int k = 0; k < R; k++) {
                        uv += (double)u[s * R + k] * v[k * D + j];
                        m += fabs((double)u[s * R + k] * v[k * D + j]);
                    }
                    want_add[i] = (double)x[i] + pe[s * D + j];
                    mag_add[i] = fabs(x[i]) + fabs(pe[s * D + j]);
                    want_low[i] = x[i] + uv;
                    mag_low[i] = m;
                }
        rc = compare(y_add, want_add, mag_add, "x + PE") ||
             compare(y_low, want_low, mag_low, "x + U.V");
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(tu);
    clf_tensor_destroy(tv);
    clf_tensor_destroy(tx);
    clf_ctx_destroy(ctx);
    if (rc == 0)
        printf("posenc: x + PE and x + U.V match the host's sums\n");
    return rc;
}
