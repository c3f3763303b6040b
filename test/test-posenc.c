/* Positional encodings (sinusoidal, learned, low-rank factorised): the
 * sinusoidal table, adding a table, the host SVD (lib/linalg/svd.c) and the
 * low-rank table, each against a double-precision reference with a bound
 * derived from the rounding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "../lib/linalg/svd.h" /* internal: the host SVD */

/* Unit roundoff of binary64. */
#define U64 0x1p-53

/* ------------------------------------------------------------------------ */
/* Sinusoidal table                                                         */
/* ------------------------------------------------------------------------ */

/*
 * Reference computed another way: angle = pos * exp(-(2i/d) ln 10000). Each
 * double result is within angle * 16 * 2^-53 + 2^-53 of the exact value; so
 * is the library's, before its one rounding to f32, which adds at most
 * u |PE| (u = 2^-24) and at most 2^-25 (|PE| < 1 has ulp <= 2^-24; 1 is
 * exact). Bound per entry: min(u |ref|, 2^-25) + (angle + 1) 2^-46 (the
 * second term has 8x margin over the two double errors).
 */
static void check_table(int64_t max_len, int64_t d)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, max_len, d, &t));
    ck_assert_int_eq(clf_tensor_ndim(t), 2);
    ck_assert_int_eq(clf_tensor_dim(t, 0), max_len);
    ck_assert_int_eq(clf_tensor_dim(t, 1), d);
    ck_assert_int_eq(clf_tensor_dtype(t), CLF_F32);
    float *pe = test_read_all(t);
    double worst = 0;
    for (int64_t pos = 0; pos < max_len; pos++)
        for (int64_t c = 0; c < d; c++) {
            double w = exp(-(double)(c - c % 2) / (double)d * log(10000.0));
            double angle = (double)pos * w;
            double ref = c % 2 ? cos(angle) : sin(angle);
            double got = pe[pos * d + c];
            double bound = fmin(TEST_U32 * fabs(ref), 0x1p-25) + (angle + 1) * 0x1p-46;
            double e = fabs(got - ref);
            ck_assert_msg(e <= bound, "PE[%lld, %lld] of %lldx%lld = %.9g, reference %.17g",
                          (long long)pos, (long long)c, (long long)max_len, (long long)d, got,
                          ref);
            worst = fmax(worst, e);
        }
    for (int64_t c = 0; c < d; c++) /* position 0: sin 0 = 0, cos 0 = 1, exactly */
        ck_assert(pe[c] == (c % 2 ? 1.0f : 0.0f));
    printf("sinusoidal %lld x %lld: max |PE - ref| = %.3g (2^-25 = %.3g)\n", (long long)max_len,
           (long long)d, worst, 0x1p-25);
    free(pe);
}

START_TEST(test_sinusoidal_values)
{
    check_table(512, 512);
    check_table(100, 64);
    check_table(4096, 16);   /* large angles: pos up to 4095 */
    check_table(7, 5);       /* odd d: last column is the sine of frequency 2 */
    check_table(33, 1);      /* d = 1: one sine column, angle = pos */
    check_table(1, 1);
}
END_TEST

START_TEST(test_sinusoidal_cached)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 256, 64, &a));
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 256, 64, &b));
    ck_assert_ptr_eq(a, b); /* computed once, kept by the context */
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 100, 64, &c));
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 256, 32, &d));
    ck_assert_ptr_ne(a, c);
    ck_assert_ptr_ne(a, d);
    ck_assert_ptr_ne(c, d);
    ck_assert_int_eq(clf_tensor_dim(c, 0), 100);
    ck_assert_int_eq(clf_tensor_dim(d, 1), 32);
    /* the table of 100 positions is the first 100 rows of the one of 256 */
    float *fa = test_read_all(a), *fc = test_read_all(c);
    ck_assert(!memcmp(fa, fc, 100 * 64 * sizeof *fa));
    free(fa);
    free(fc);
    /* and it still holds after other tables were made */
    struct clf_tensor *again = NULL;
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 100, 64, &again));
    ck_assert_ptr_eq(again, c);
}
END_TEST

START_TEST(test_sinusoidal_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = (struct clf_tensor *)ctx;
    ck_assert_status(ctx, clf_posenc_sinusoidal(ctx, 0, 8, &t), CLF_E_SHAPE);
    ck_assert_ptr_null(t);
    ck_assert_status(ctx, clf_posenc_sinusoidal(ctx, 8, 0, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_posenc_sinusoidal(ctx, -3, 8, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_posenc_sinusoidal(ctx, 8, -1, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_posenc_sinusoidal(ctx, INT64_MAX / 2, 4, &t), CLF_E_SHAPE);
    ck_assert_ptr_null(t);
    ck_assert_status(ctx, clf_posenc_sinusoidal(ctx, 8, 8, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_posenc_sinusoidal(NULL, 8, 8, &t), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(t);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* posenc_add                                                               */
/* ------------------------------------------------------------------------ */

/*
 * out = x + table[s] is one f32 rounding of a sum that double holds exactly
 * here (both terms in [-1, 1], their exponents within 53 - 24 of each
 * other, or one of them 0): |out - ref| <= u |ref|. NaN fails the test.
 */
static void check_add(const float *out, const double *ref, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)out[i] - ref[i]);
        ck_assert_msg(e <= TEST_U32 * fabs(ref[i]), "%s[%zu] = %.9g, reference %.17g", what, i,
                      out[i], ref[i]);
    }
}

START_TEST(test_add)
{
    struct clf_ctx *ctx = test_ctx();
    enum { B = 3, S = 20, D = 24, P = D + 5, MAXLEN = 64, LROWS = 30 };
    struct clf_tensor *sin_table = NULL;
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, MAXLEN, D, &sin_table));
    float *sin_host = test_read_all(sin_table);

    /* x: a [B, S, D] view of storage [S, B, P] (seq-major, padded rows) */
    static float xs[S * B * P], learned_t[D * LROWS], x4[2 * 2 * 5 * D], x1[D], x2[MAXLEN * D];
    int64_t xs_shape[3] = {S, B, P}, x_shape[3] = {B, S, D}, x_str[3] = {P, B * P, 1};
    const int64_t x_off = 2;
    struct clf_tensor *xst = test_upload(3, xs_shape, xs), *x = NULL;
    ck_assert_ok(ctx, clf_tensor_view(xst, 3, x_shape, x_str, x_off, &x));
    /* a learned table [LROWS, D] stored transposed: storage [D, LROWS] */
    int64_t lt_shape[2] = {D, LROWS}, l_shape[2] = {LROWS, D}, l_str[2] = {1, LROWS};
    struct clf_tensor *lst = test_upload(2, lt_shape, learned_t), *learned = NULL;
    ck_assert_ok(ctx, clf_tensor_view(lst, 2, l_shape, l_str, 0, &learned));
    int64_t s4[4] = {2, 2, 5, D}, s1[1] = {D}, s2[2] = {MAXLEN, D};
    struct clf_tensor *tx4 = test_upload(4, s4, x4), *tx1 = test_upload(1, s1, x1), *tx2 = test_upload(2, s2, x2);

    struct clf_graph *g;
    struct clf_tensor *y_sin, *y_learned, *y4, *y1, *y2;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_posenc_add(g, x, sin_table, &y_sin));
    ck_assert_ok(ctx, clf_op_posenc_add(g, x, learned, &y_learned));
    ck_assert_ok(ctx, clf_op_posenc_add(g, tx4, sin_table, &y4));
    ck_assert_ok(ctx, clf_op_posenc_add(g, tx1, sin_table, &y1)); /* one position: row 0 */
    ck_assert_ok(ctx, clf_op_posenc_add(g, tx2, sin_table, &y2)); /* seq == max_len */
    ck_assert_uint_eq(clf_graph_node_count(g), 5);
    ck_assert_int_eq(clf_tensor_ndim(y_sin), 3);
    ck_assert(clf_tensor_is_contiguous(y_sin));

    static double ref[B * S * D];
    for (int run = 0; run < 2; run++) { /* the same graph, new inputs */
        test_fill_uniform(xs, S * B * P, -1, 1);
        test_fill_uniform(learned_t, D * LROWS, -1, 1);
        test_fill_uniform(x4, 2 * 2 * 5 * D, -1, 1);
        test_fill_uniform(x1, D, -1, 1);
        test_fill_uniform(x2, MAXLEN * D, -1, 1);
        ck_assert_ok(ctx, clf_tensor_write(xst, xs, sizeof xs));
        ck_assert_ok(ctx, clf_tensor_write(lst, learned_t, sizeof learned_t));
        ck_assert_ok(ctx, clf_tensor_write(tx4, x4, sizeof x4));
        ck_assert_ok(ctx, clf_tensor_write(tx1, x1, sizeof x1));
        ck_assert_ok(ctx, clf_tensor_write(tx2, x2, sizeof x2));
        test_poison(y_sin);
        test_poison(y_learned);
        test_poison(y4);
        test_poison(y1);
        test_poison(y2);
        ck_assert_ok(ctx, clf_graph_run(g));

        float *out = test_read_all(y_sin);
        for (int b = 0; b < B; b++)
            for (int s = 0; s < S; s++)
                for (int j = 0; j < D; j++)
                    ref[(b * S + s) * D + j] = (double)xs[x_off + b * P + s * B * P + j] +
                                               sin_host[s * D + j];
        check_add(out, ref, B * S * D, "x + sinusoidal");
        free(out);

        out = test_read_all(y_learned);
        for (int b = 0; b < B; b++)
            for (int s = 0; s < S; s++)
                for (int j = 0; j < D; j++)
                    ref[(b * S + s) * D + j] = (double)xs[x_off + b * P + s * B * P + j] +
                                               learned_t[j * LROWS + s];
        check_add(out, ref, B * S * D, "x + learned");
        free(out);

        out = test_read_all(y4);
        for (int i = 0; i < 2 * 2 * 5 * D; i++)
            ref[i] = (double)x4[i] + sin_host[(i / D) % 5 * D + i % D];
        check_add(out, ref, 2 * 2 * 5 * D, "4-D x + sinusoidal");
        free(out);

        out = test_read_all(y1);
        for (int j = 0; j < D; j++)
            ref[j] = (double)x1[j] + sin_host[j];
        check_add(out, ref, D, "1-D x + sinusoidal");
        free(out);

        out = test_read_all(y2);
        double *ref2 = malloc(MAXLEN * D * sizeof *ref2);
        for (int i = 0; i < MAXLEN * D; i++)
            ref2[i] = (double)x2[i] + sin_host[i];
        check_add(out, ref2, MAXLEN * D, "full-length x + sinusoidal");
        free(ref2);
        free(out);
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xst);
    clf_tensor_destroy(learned);
    clf_tensor_destroy(lst);
    clf_tensor_destroy(tx4);
    clf_tensor_destroy(tx1);
    clf_tensor_destroy(tx2);
    free(sin_host);
}
END_TEST

START_TEST(test_add_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *table = NULL, *x = NULL, *xlong = NULL, *xd = NULL, *xi8 = NULL,
                      *t3 = NULL, *y = (struct clf_tensor *)ctx;
    int64_t sx[3] = {2, 16, 8}, sl[2] = {17, 8}, sd[2] = {4, 9}, s3[3] = {1, 16, 8};
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 16, 8, &table));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, sx, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sl, &xlong));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sd, &xd));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 3, sx, &xi8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3, &t3));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_op_posenc_add(g, xlong, table, &y), CLF_E_SHAPE); /* seq > rows */
    ck_assert_ptr_null(y);
    ck_assert_status(ctx, clf_op_posenc_add(g, xd, table, &y), CLF_E_SHAPE);    /* d differs */
    ck_assert_status(ctx, clf_op_posenc_add(g, xi8, table, &y), CLF_E_SHAPE);   /* dtype */
    ck_assert_status(ctx, clf_op_posenc_add(g, x, t3, &y), CLF_E_SHAPE);        /* 3-D table */
    ck_assert_status(ctx, clf_op_posenc_add(g, NULL, table, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_posenc_add(g, x, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_posenc_add(g, x, table, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_posenc_add(NULL, x, table, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    ck_assert_ok(ctx, clf_op_posenc_add(g, x, table, &y)); /* seq == rows is fine */
    ck_assert_uint_eq(clf_graph_node_count(g), 1);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xlong);
    clf_tensor_destroy(xd);
    clf_tensor_destroy(xi8);
    clf_tensor_destroy(t3);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* posenc_add_lowrank                                                       */
/* ------------------------------------------------------------------------ */

/*
 * out = x + sum_k U[s,k] V[k,j]: the r-term fma dot product is within
 * gamma_r sum |U||V| of the exact one, and adding x rounds once more, so
 * |out - ref| <= gamma_{r+1} (|x| + sum_k |U[s,k]| |V[k,j]|).
 */
START_TEST(test_lowrank_op)
{
    struct clf_ctx *ctx = test_ctx();
    enum { B = 2, S = 30, D = 24, P = D + 5, L = 40, R = 7, VP = D + 3 };
    static float xs[S * B * P], ut[R * L], vs[R * VP], x1[D];
    int64_t xs_shape[3] = {S, B, P}, x_shape[3] = {B, S, D}, x_str[3] = {P, B * P, 1};
    const int64_t x_off = 3;
    int64_t ut_shape[2] = {R, L}, u_shape[2] = {L, R}, u_str[2] = {1, L};
    int64_t vs_shape[2] = {R, VP}, v_shape[2] = {R, D}, v_str[2] = {VP, 1};
    int64_t s1[1] = {D};
    struct clf_tensor *xst = test_upload(3, xs_shape, xs), *ust = test_upload(2, ut_shape, ut),
                      *vst = test_upload(2, vs_shape, vs), *tx1 = test_upload(1, s1, x1);
    struct clf_tensor *x, *u, *v, *u1, *v1;
    ck_assert_ok(ctx, clf_tensor_view(xst, 3, x_shape, x_str, x_off, &x));
    ck_assert_ok(ctx, clf_tensor_view(ust, 2, u_shape, u_str, 0, &u));  /* U stored transposed */
    ck_assert_ok(ctx, clf_tensor_view(vst, 2, v_shape, v_str, 2, &v));  /* padded rows */
    int64_t u1_shape[2] = {L, 1}, v1_shape[2] = {1, D};
    ck_assert_ok(ctx, clf_tensor_slice(u, 1, 3, 1, &u1));               /* rank 1: column 3 */
    ck_assert_ok(ctx, clf_tensor_slice(v, 0, 3, 1, &v1));
    ck_assert_int_eq(clf_tensor_dim(u1, 1), u1_shape[1]);
    ck_assert_int_eq(clf_tensor_dim(v1, 0), v1_shape[0]);

    struct clf_graph *g;
    struct clf_tensor *y, *yr1, *y1;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_posenc_add_lowrank(g, x, u, v, &y));
    ck_assert_ok(ctx, clf_op_posenc_add_lowrank(g, x, u1, v1, &yr1));
    ck_assert_ok(ctx, clf_op_posenc_add_lowrank(g, tx1, u, v, &y1));
    static double ref[B * S * D], bound[B * S * D];
    for (int run = 0; run < 2; run++) {
        test_fill_uniform(xs, S * B * P, -1, 1);
        test_fill_uniform(ut, R * L, -1, 1);
        test_fill_uniform(vs, R * VP, -1, 1);
        test_fill_uniform(x1, D, -1, 1);
        ck_assert_ok(ctx, clf_tensor_write(xst, xs, sizeof xs));
        ck_assert_ok(ctx, clf_tensor_write(ust, ut, sizeof ut));
        ck_assert_ok(ctx, clf_tensor_write(vst, vs, sizeof vs));
        ck_assert_ok(ctx, clf_tensor_write(tx1, x1, sizeof x1));
        test_poison(y);
        test_poison(yr1);
        test_poison(y1);
        ck_assert_ok(ctx, clf_graph_run(g));

        for (int pass = 0; pass < 3; pass++) {
            int k0 = pass == 1 ? 3 : 0, k1 = pass == 1 ? 4 : R, nb = pass == 2 ? 1 : B,
                ns = pass == 2 ? 1 : S;
            for (int b = 0; b < nb; b++)
                for (int s = 0; s < ns; s++)
                    for (int j = 0; j < D; j++) {
                        double xv = pass == 2 ? x1[j] : xs[x_off + b * P + s * B * P + j];
                        double sum = 0, mag = 0;
                        for (int k = k0; k < k1; k++) {
                            double p = (double)ut[k * L + s] * vs[2 + k * VP + j];
                            sum += p;
                            mag += fabs(p);
                        }
                        ref[(b * ns + s) * D + j] = xv + sum;
                        bound[(b * ns + s) * D + j] = test_gamma((double)k1 - k0 + 1) * (fabs(xv) + mag);
                    }
            float *out = test_read_all(pass == 0 ? y : pass == 1 ? yr1 : y1);
            for (int i = 0; i < nb * ns * D; i++)
                ck_assert_msg(fabs((double)out[i] - ref[i]) <= bound[i],
                              "lowrank pass %d [%d] = %.9g, reference %.17g, bound %.3g", pass,
                              i, out[i], ref[i], bound[i]);
            free(out);
        }
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(u1);
    clf_tensor_destroy(v1);
    clf_tensor_destroy(x);
    clf_tensor_destroy(u);
    clf_tensor_destroy(v);
    clf_tensor_destroy(xst);
    clf_tensor_destroy(ust);
    clf_tensor_destroy(vst);
    clf_tensor_destroy(tx1);
}
END_TEST

START_TEST(test_lowrank_op_errors)
{
    struct clf_ctx *ctx = test_ctx();
    int64_t sx[3] = {2, 16, 8}, su[2] = {16, 4}, sv[2] = {4, 8}, sv5[2] = {5, 8},
            sshort[2] = {15, 4}, svd9[2] = {4, 9}, s3[3] = {1, 4, 8};
    struct clf_tensor *x, *u, *v, *v5, *ushort, *vd9, *v3, *ui8, *y = (struct clf_tensor *)ctx;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, sx, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, su, &u));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sv, &v));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sv5, &v5));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sshort, &ushort));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, svd9, &vd9));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, s3, &v3));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, su, &ui8));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, u, v5, &y), CLF_E_SHAPE); /* ranks */
    ck_assert_ptr_null(y);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, ushort, v, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, u, vd9, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, u, v3, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, ui8, v, &y), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, NULL, u, v, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, NULL, v, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, u, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_posenc_add_lowrank(g, x, u, v, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_posenc_add_lowrank(NULL, x, u, v, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    ck_assert_ok(ctx, clf_op_posenc_add_lowrank(g, x, u, v, &y));
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(u);
    clf_tensor_destroy(v);
    clf_tensor_destroy(v5);
    clf_tensor_destroy(ushort);
    clf_tensor_destroy(vd9);
    clf_tensor_destroy(v3);
    clf_tensor_destroy(ui8);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Host SVD: a matrix with a known spectrum                                 */
/* ------------------------------------------------------------------------ */

/* ||sigma_{j > r}|| / ||sigma|| for sigma_j = 1/j, j = 1..k. */
static double analytic_tail(int64_t k, int64_t r)
{
    double tail = 0, all = 0;
    for (int64_t j = k; j >= 1; j--) {
        all += 1.0 / ((double)j * j);
        if (j > r)
            tail += 1.0 / ((double)j * j);
    }
    return sqrt(tail / all);
}

/*
 * A = Q1 diag(1/j) Q2^T, Q1 [m, k], Q2 [n, k] random orthonormal. A
 * backward-stable SVD returns the singular values of A + E, ||E||_2 of a few
 * hundred eps ||A||_2 (= 1) at these sizes, so every sigma_j and every
 * Eckart-Young tail error is within ~1e-13 of the analytic value: bound
 * 1e-12. The public factorisation sees A rounded to f32 (A + E, |E| <= u|A|
 * elementwise, ||E||_F <= u ||A||_F); by Mirsky's inequality the singular
 * values move by at most ||E||_F in 2-norm, so the tail error t moves by at
 * most (u + 1e-13) (1 + t) / (1 - u).
 */
static void check_known_spectrum(int64_t m, int64_t n)
{
    struct clf_ctx *ctx = test_ctx();
    const int64_t k = m < n ? m : n;
    double *q1 = NULL, *q2 = NULL;
    double *a = test_known_spectrum(m, n, &q1, &q2);

    double *u = malloc((size_t)(m * k) * sizeof *u), *s = malloc((size_t)k * sizeof *s);
    double *vt = malloc((size_t)(k * n) * sizeof *vt), *s_only = malloc((size_t)k * sizeof *s);
    ck_assert_ok(ctx, clf_svd(ctx, a, m, n, u, s, vt));
    ck_assert_ok(ctx, clf_svd(ctx, a, m, n, NULL, s_only, NULL));
    double worst_s = 0, worst_t = 0, worst_rec = 0, worst_orth = 0;
    for (int64_t j = 0; j < k; j++) {
        worst_s = fmax(worst_s, fabs(s[j] - 1.0 / (double)(j + 1)));
        worst_s = fmax(worst_s, fabs(s_only[j] - 1.0 / (double)(j + 1)));
    }
    for (int64_t r = 0; r <= k; r++)
        worst_t = fmax(worst_t, fabs(clf_svd_tail_error(s, k, r) - analytic_tail(k, r)));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double rec = 0;
            for (int64_t p = 0; p < k; p++)
                rec += u[i * k + p] * s[p] * vt[p * n + j];
            worst_rec = fmax(worst_rec, fabs(rec - a[i * n + j]));
        }
    for (int64_t p = 0; p < k; p++)
        for (int64_t q = 0; q < k; q++) {
            double uu = 0, vv = 0;
            for (int64_t i = 0; i < m; i++)
                uu += u[i * k + p] * u[i * k + q];
            for (int64_t j = 0; j < n; j++)
                vv += vt[p * n + j] * vt[q * n + j];
            worst_orth = fmax(worst_orth, fabs(uu - (p == q)));
            worst_orth = fmax(worst_orth, fabs(vv - (p == q)));
        }
    printf("SVD %lld x %lld, sigma_j = 1/j: max |sigma - 1/j| %.2g, |tail - analytic| %.2g, "
           "|U S Vt - A| %.2g, orthogonality %.2g\n",
           (long long)m, (long long)n, worst_s, worst_t, worst_rec, worst_orth);
    ck_assert_msg(worst_s <= 1e-12, "singular values off by %g", worst_s);
    ck_assert_msg(worst_t <= 1e-12, "tail errors off by %g", worst_t);
    ck_assert_msg(worst_rec <= 1e-12, "reconstruction off by %g", worst_rec);
    ck_assert_msg(worst_orth <= 1e-12, "singular vectors not orthonormal: %g", worst_orth);

    /* numerical rank: 1/j > 0.055 for j <= 18; smallest r with tail <= 0.1 */
    ck_assert_int_eq(clf_svd_rank(s, k, 0.055), 18);
    int64_t want = 0;
    while (analytic_tail(k, want) > 0.1)
        want++;
    ck_assert_int_eq(clf_svd_rank_for_error(s, k, 0.1), want);

    /* truncated factors in each split equal the analytic A_r */
    const int64_t r = 10;
    double *left = malloc((size_t)(m * r) * sizeof *left);
    double *right = malloc((size_t)(r * n) * sizeof *right);
    for (int split = 0; split < 3; split++) {
        double rel = -1, worst = 0;
        ck_assert_ok(ctx, clf_svd_truncate(ctx, a, m, n, r, (enum clf_svd_split)split, left,
                                           right, s, &rel));
        ck_assert_msg(fabs(rel - analytic_tail(k, r)) <= 1e-12, "rank-%lld error %.17g",
                      (long long)r, rel);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double lr = 0, ar = 0;
                for (int64_t p = 0; p < r; p++) {
                    lr += left[i * r + p] * right[p * n + j];
                    ar += q1[i * k + p] * (1.0 / (double)(p + 1)) * q2[j * k + p];
                }
                worst = fmax(worst, fabs(lr - ar));
            }
        /* the rank-10 subspace is separated by a gap 1/10 - 1/11: well determined */
        ck_assert_msg(worst <= 1e-11, "split %d: |L R - A_r| = %g", split, worst);
    }

    /* the public factorisation, on A rounded to f32 */
    float *af = malloc((size_t)(m * n) * sizeof *af);
    for (int64_t i = 0; i < m * n; i++)
        af[i] = (float)a[i];
    int64_t shape[2] = {m, n};
    struct clf_tensor *ta = test_upload(2, shape, af);
    const int64_t ranks[4] = {1, 10, k / 2, k};
    for (int i = 0; i < 4; i++) {
        struct clf_tensor *tu = NULL, *tv = NULL;
        double rel = -1, t = analytic_tail(k, ranks[i]);
        ck_assert_ok(ctx, clf_posenc_factorize(ctx, ta, ranks[i], &tu, &tv, &rel));
        ck_assert_int_eq(clf_tensor_dim(tu, 0), m);
        ck_assert_int_eq(clf_tensor_dim(tu, 1), ranks[i]);
        ck_assert_int_eq(clf_tensor_dim(tv, 0), ranks[i]);
        ck_assert_int_eq(clf_tensor_dim(tv, 1), n);
        double bound = (TEST_U32 + 1e-13) * (1 + t) / (1 - TEST_U32);
        ck_assert_msg(fabs(rel - t) <= bound, "f32 rank %lld: error %.10g, analytic %.10g",
                      (long long)ranks[i], rel, t);
        clf_tensor_destroy(tu);
        clf_tensor_destroy(tv);
    }
    clf_tensor_destroy(ta);
    free(af);
    free(left);
    free(right);
    free(q1);
    free(q2);
    free(a);
    free(u);
    free(s);
    free(vt);
    free(s_only);
}

START_TEST(test_svd_known_spectrum)
{
    check_known_spectrum(160, 100); /* tall */
    check_known_spectrum(90, 150);  /* wide */
}
END_TEST

START_TEST(test_svd_errors)
{
    struct clf_ctx *ctx = test_ctx();
    double a[6] = {1, 2, 3, 4, 5, 6}, s[2], l[6], r[6];
    ck_assert_status(ctx, clf_svd(ctx, NULL, 2, 3, NULL, s, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_svd(ctx, a, 2, 3, NULL, NULL, NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_svd(ctx, a, 0, 3, NULL, s, NULL), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_svd(ctx, a, 2, -1, NULL, s, NULL), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_svd(ctx, a, (int64_t)1 << 40, 2, NULL, s, NULL), CLF_E_SHAPE);
    a[4] = NAN;
    ck_assert_status(ctx, clf_svd(ctx, a, 2, 3, NULL, s, NULL), CLF_E_INVALID_ARG);
    a[4] = INFINITY;
    ck_assert_status(ctx, clf_svd(ctx, a, 2, 3, NULL, s, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_svd(NULL, a, 2, 3, NULL, s, NULL), CLF_E_INVALID_ARG); /* no ctx */
    a[4] = 5;
    ck_assert_ok(ctx, clf_svd(ctx, a, 2, 3, l, s, NULL)); /* only U wanted */
    ck_assert_status(ctx, clf_svd_truncate(ctx, a, 2, 3, 0, CLF_SVD_SPLIT_LEFT, l, r, NULL,
                                           NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_svd_truncate(ctx, a, 2, 3, 3, CLF_SVD_SPLIT_LEFT, l, r, NULL,
                                           NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_svd_truncate(ctx, a, 2, 3, 1, CLF_SVD_SPLIT_LEFT, NULL, r, NULL,
                                           NULL), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_svd_truncate(ctx, a, 2, 3, 1, (enum clf_svd_split)7, l, r, NULL,
                                           NULL), CLF_E_INVALID_ARG);
    /* tail error edge cases */
    double z[3] = {0, 0, 0}, one[3] = {3, 0, 0};
    ck_assert(clf_svd_tail_error(z, 3, 1) == 0);
    ck_assert(clf_svd_tail_error(one, 3, 1) == 0);
    ck_assert(clf_svd_tail_error(one, 3, 0) == 1);
    ck_assert(clf_svd_tail_error(one, 3, 3) == 0);
    double big[2] = {1e300, 1e300}; /* scaled: no overflow */
    ck_assert(fabs(clf_svd_tail_error(big, 2, 1) - sqrt(0.5)) <= 1e-15);
}
END_TEST

START_TEST(test_factorize_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *table = NULL, *t1 = NULL, *ti8 = NULL;
    struct clf_tensor *u = (struct clf_tensor *)ctx, *v = (struct clf_tensor *)ctx;
    int64_t s1[1] = {8}, s2[2] = {8, 6};
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, 8, 6, &table));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s1, &t1));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 2, s2, &ti8));
    double rel = -1;
    ck_assert_status(ctx, clf_posenc_factorize(ctx, table, 0, &u, &v, &rel), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(u);
    ck_assert_ptr_null(v);
    ck_assert(rel == -1);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, table, 7, &u, &v, &rel), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, table, -2, &u, &v, &rel), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, t1, 1, &u, &v, &rel), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, ti8, 1, &u, &v, &rel), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, NULL, 1, &u, &v, &rel), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, table, 1, NULL, &v, &rel),
                     CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, table, 1, &u, NULL, &rel),
                     CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_posenc_factorize(NULL, table, 1, &u, &v, &rel), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(u);
    /* a NaN in a learned table is refused, not factored */
    float bad[48];
    test_fill_uniform(bad, 48, -1, 1);
    bad[17] = NAN;
    struct clf_tensor *tbad = test_upload(2, s2, bad);
    ck_assert_status(ctx, clf_posenc_factorize(ctx, tbad, 2, &u, &v, &rel), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(u);
    ck_assert_ptr_null(v);
    /* rank = min(rows, d) is the largest allowed; rel_error may be NULL */
    ck_assert_ok(ctx, clf_posenc_factorize(ctx, table, 6, &u, &v, NULL));
    clf_tensor_destroy(u);
    clf_tensor_destroy(v);
    clf_tensor_destroy(tbad);
    clf_tensor_destroy(t1);
    clf_tensor_destroy(ti8);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The 512 x 512 sinusoidal table, low rank                                 */
/* ------------------------------------------------------------------------ */

/*
 * Factor P (the f32 table, 512 x 512) at each rank, run the low-rank op on
 * x = 0 and compare what the device computes with P in ||.||_F relative.
 * Per entry, the device value differs from the double rank-r truncation P_r
 * by at most gamma_{r+3} sum_k |U[s,k]||V[k,j]| (f32 rounding of both
 * factors: gamma_2; the r-term fma dot product: gamma_r) plus the double
 * SVD's backward error, at most 4 n eps ||P||_F. So the device error is
 * at most rel_error + ||that bound||_F / ||P||_F (triangle inequality).
 */
START_TEST(test_lowrank_sinusoidal_512)
{
    struct clf_ctx *ctx = test_ctx();
    enum { N = 512 };
    static const int64_t ranks[] = {16, 32, 64, 96, 128, 192, 256, 512};
    enum { NR = sizeof ranks / sizeof ranks[0] };
    struct clf_tensor *table = NULL;
    ck_assert_ok(ctx, clf_posenc_sinusoidal(ctx, N, N, &table));
    float *p = test_read_all(table);
    double *pd = malloc((size_t)N * N * sizeof *pd), s[N], pnorm = 0;
    for (size_t i = 0; i < (size_t)N * N; i++) {
        pd[i] = p[i];
        pnorm += pd[i] * pd[i];
    }
    pnorm = sqrt(pnorm);
    ck_assert_ok(ctx, clf_svd(ctx, pd, N, N, NULL, s, NULL));
    printf("sinusoidal 512 x 512: ||P||_F %.6g, sigma_1 %.6g, sigma_j / sigma_1 at j = ", pnorm,
           s[0]);
    for (int i = 0; i < NR; i++)
        printf("%lld: %.2e%s", (long long)ranks[i], s[ranks[i] - 1] / s[0],
               i + 1 < NR ? ", " : "\n");
    printf("numerical rank (sigma_j > 1e-6 sigma_1): %lld; smallest r with rank-r error <= 1e-6: "
           "%lld\n",
           (long long)clf_svd_rank(s, N, 1e-6), (long long)clf_svd_rank_for_error(s, N, 1e-6));

    printf("rank-r error from the spectrum, r = 116..128:");
    for (int64_t r = 116; r <= 128; r++)
        printf(" %lld: %.1e", (long long)r, clf_svd_tail_error(s, N, r));
    printf("\n");

    int64_t xs[2] = {N, N};
    float *zeros = calloc((size_t)N * N, sizeof *zeros);
    struct clf_tensor *x = test_upload(2, xs, zeros);
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_tensor *tu[NR], *tv[NR], *y[NR];
    double rel[NR];
    for (int i = 0; i < NR; i++) {
        ck_assert_ok(ctx, clf_posenc_factorize(ctx, table, ranks[i], &tu[i], &tv[i], &rel[i]));
        ck_assert_msg(fabs(rel[i] - clf_svd_tail_error(s, N, ranks[i])) <= 1e-12,
                      "rank %lld: rel_error %.17g, from the spectrum %.17g", (long long)ranks[i],
                      rel[i], clf_svd_tail_error(s, N, ranks[i]));
        if (i)
            ck_assert(rel[i] <= rel[i - 1]);
        ck_assert_ok(ctx, clf_op_posenc_add_lowrank(g, x, tu[i], tv[i], &y[i]));
        test_poison(y[i]);
    }
    ck_assert(rel[NR - 1] == 0); /* full rank: nothing discarded */
    ck_assert_ok(ctx, clf_graph_run(g));

    printf("  rank   rel_error (SVD)   device ||UV - P||_F/||P||_F   fp32 bound\n");
    const double c_svd = 4.0 * N * 0x1p-53 * pnorm;
    for (int i = 0; i < NR; i++) {
        const int64_t r = ranks[i];
        float *uh = test_read_all(tu[i]), *vh = test_read_all(tv[i]), *out = test_read_all(y[i]);
        double diff = 0, bnd = 0, worst_ratio = 0;
        const double gam = test_gamma((double)r + 3);
        for (int64_t a = 0; a < N; a++)
            for (int64_t b = 0; b < N; b++) {
                double mag = 0;
                for (int64_t k = 0; k < r; k++)
                    mag += fabs((double)uh[a * r + k] * vh[k * N + b]);
                double e = (double)out[a * N + b] - p[a * N + b];
                double eb = gam * mag + c_svd;
                diff += e * e;
                bnd += eb * eb;
                if (r == N) /* full rank: entrywise bound holds on its own */
                    ck_assert_msg(fabs(e) <= eb, "full rank: entry (%lld, %lld) off by %g > %g",
                                  (long long)a, (long long)b, fabs(e), eb);
                if (!(fabs(e) / eb <= worst_ratio))
                    worst_ratio = isnan(e) ? INFINITY : fabs(e) / eb;
            }
        double dev = sqrt(diff) / pnorm, fp32 = sqrt(bnd) / pnorm;
        printf("  %4lld   %.3e         %.3e                     %.2e\n", (long long)r, rel[i], dev,
               fp32);
        ck_assert_msg(dev <= rel[i] + fp32, "rank %lld: device error %g > %g + %g",
                      (long long)r, dev, rel[i], fp32);
        if (r == 128) { /* rank 128 reproduces this table (to 1e-5) */
            ck_assert_msg(rel[i] <= 1e-5, "rank 128: SVD error %g > 1e-5", rel[i]);
            ck_assert_msg(dev <= 1e-5, "rank 128: device error %g > 1e-5", dev);
        }
        free(uh);
        free(vh);
        free(out);
    }
    clf_graph_destroy(g);
    for (int i = 0; i < NR; i++) {
        clf_tensor_destroy(tu[i]);
        clf_tensor_destroy(tv[i]);
    }
    clf_tensor_destroy(x);
    free(zeros);
    free(pd);
    free(p);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Rotary position embedding                                                */
/* ------------------------------------------------------------------------ */

/* The angle the table is defined with (rope.c): Hugging Face's, each step
 * rounded to f32 (test_rope_table_hf checks the definition against
 * transformers' own table). */
static double rope_angle_f32(int64_t pos, int64_t i, int64_t d, double theta)
{
    const float e = (float)(2 * i) / (float)d;
    const float f = 1.0f / powf((float)theta, e);
    return (double)((float)pos * f);
}

/* The exact angle pos·θ^(−2i/d), computed another way than the library
 * (exp and log): within (angle + 1)·2^-49 of it. */
static double rope_angle(int64_t pos, int64_t i, int64_t d, double theta)
{
    return (double)pos * exp(-(double)(2 * i) / (double)d * log(theta));
}

/* Each entry is one f32 rounding of the cos or sin (in double) of the
 * angle as Hugging Face forms it in f32 (rope.c), which is within
 * a·(ln θ + 3)·2^-24 of the exact angle a (the exponent's rounding scaled
 * by ln θ, the power's, the division's and the product's), so
 * |got − ref| <= min(u·|ref|, 2^-25) + a·(ln θ + 3)·2^-24 + (a + 1)·2^-46. */
static void check_rope_table(int64_t max_len, int64_t d, double theta)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = NULL;
    ck_assert_ok(ctx, clf_rope_table(ctx, max_len, d, theta, &t));
    ck_assert_int_eq(clf_tensor_dim(t, 0), max_len);
    ck_assert_int_eq(clf_tensor_dim(t, 1), d);
    float *got = test_read_all(t);
    for (int64_t pos = 0; pos < max_len; pos++)
        for (int64_t c = 0; c < d; c++) {
            const int64_t i = c % (d / 2);
            const double a = rope_angle(pos, i, d, theta);
            const double ref = c < d / 2 ? cos(a) : sin(a);
            const double bound = fmin(TEST_U32 * fabs(ref), 0x1p-25) +
                                 a * (log(theta) + 3) * 0x1p-24 + (a + 1) * 0x1p-46;
            ck_assert_msg(fabs(got[pos * d + c] - ref) <= bound,
                          "rope table %lldx%lld theta %g [%lld, %lld] = %.9g, reference %.17g",
                          (long long)max_len, (long long)d, theta, (long long)pos, (long long)c,
                          got[pos * d + c], ref);
        }
    free(got);
}

/* The table equals transformers' ModernBertRotaryEmbedding (f32 angles;
 * test/reference/rope-hf.json from tools/make_rope_reference.py) up to the
 * last rounding of cos and sin, which torch's f32 cos and sin make within
 * an ulp: |got − hf| <= 2^-23 (values <= 1). The exact angles miss it by
 * up to 5e-4 at position 8191. */
START_TEST(test_rope_table_hf)
{
    struct clf_ctx *ctx = test_ctx();
    cJSON *root = test_read_json(CLF_SOURCE_DIR "/test/reference/rope-hf.json");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases"))
    {
        const int64_t d = (int64_t)cJSON_GetObjectItemCaseSensitive(c, "dim")->valuedouble;
        const double theta = cJSON_GetObjectItemCaseSensitive(c, "theta")->valuedouble;
        const cJSON *pos = cJSON_GetObjectItemCaseSensitive(c, "positions");
        const cJSON *cs = cJSON_GetObjectItemCaseSensitive(c, "cos");
        const cJSON *sn = cJSON_GetObjectItemCaseSensitive(c, "sin");
        struct clf_tensor *t = NULL;
        ck_assert_ok(ctx, clf_rope_table(ctx, 8192, d, theta, &t));
        float *got = test_read_all(t);
        for (int k = 0; k < cJSON_GetArraySize(pos); k++) {
            const int64_t p = (int64_t)cJSON_GetArrayItem(pos, k)->valuedouble;
            for (int64_t i = 0; i < d / 2; i++) {
                const double hc = cJSON_GetArrayItem(cJSON_GetArrayItem(cs, k), (int)i)->valuedouble;
                const double hs = cJSON_GetArrayItem(cJSON_GetArrayItem(sn, k), (int)i)->valuedouble;
                const double ec = fabs(got[p * d + i] - hc), es = fabs(got[p * d + d / 2 + i] - hs);
                ck_assert_msg(ec <= 0x1p-23 && es <= 0x1p-23,
                              "rope d %lld theta %g position %lld column %lld: cos %.9g sin %.9g, "
                              "transformers' %.9g %.9g",
                              (long long)d, theta, (long long)p, (long long)i, got[p * d + i],
                              got[p * d + d / 2 + i], hc, hs);
            }
        }
        free(got);
        cases++;
    }
    ck_assert_int_eq(cases, 4);
    cJSON_Delete(root);
}
END_TEST

START_TEST(test_rope_table_values)
{
    check_rope_table(512, 64, 10000.0);
    check_rope_table(300, 8, 160000.0);
    check_rope_table(5, 2, 10.0); /* one frequency: angle = pos */
}
END_TEST

START_TEST(test_rope_table_cached)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    ck_assert_ok(ctx, clf_rope_table(ctx, 64, 16, 10000.0, &a));
    ck_assert_ok(ctx, clf_rope_table(ctx, 64, 16, 10000.0, &b));
    ck_assert_ptr_eq(a, b);
    ck_assert_ok(ctx, clf_rope_table(ctx, 64, 16, 160000.0, &c)); /* another theta */
    ck_assert_ok(ctx, clf_rope_table(ctx, 32, 16, 10000.0, &d));
    ck_assert_ptr_ne(a, c);
    ck_assert_ptr_ne(a, d);
    float *fa = test_read_all(a), *fc = test_read_all(c);
    ck_assert(memcmp(fa, fc, 64 * 16 * sizeof *fa) != 0);
    free(fa);
    free(fc);
}
END_TEST

START_TEST(test_rope_table_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *t = (struct clf_tensor *)ctx;
    ck_assert_status(ctx, clf_rope_table(ctx, 0, 8, 1e4, &t), CLF_E_SHAPE);
    ck_assert_ptr_null(t);
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 7, 1e4, &t), CLF_E_SHAPE); /* odd */
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 0, 1e4, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_rope_table(ctx, INT64_MAX / 2, 4, 1e4, &t), CLF_E_SHAPE);
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 8, 0.0, &t), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 8, -1.0, &t), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 8, NAN, &t), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 8, INFINITY, &t), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(t);
    ck_assert_status(ctx, clf_rope_table(ctx, 8, 8, 1e4, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_rope_table(NULL, 8, 8, 1e4, &t), CLF_E_INVALID_ARG);
}
END_TEST

/*
 * out = fma(x_a, ĉ, ∓ round(x_b·ŝ)): two roundings on the table's entries,
 * each within u·|exact| (+ the double angle error) of the cos and sin of
 * the table's f32 angle. Against the double reference with those:
 * |out − ref| <= 3.01·u·(|x_a·c| + |x_b·s|) + (|x_a| + |x_b|)·(angle + 1)·2^-46.
 * NaN fails.
 */
static void check_rope(const float *out, const float *x, int64_t rows, int64_t seq, int64_t d,
                       const int64_t *xoff, double theta, const char *what)
{
    const int64_t h = d / 2;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t s = r % seq;
        for (int64_t j = 0; j < d; j++) {
            const int64_t i = j % h;
            const double a = rope_angle_f32(s, i, d, theta), c = cos(a), sn = sin(a);
            const double xa = x[xoff[r] + j], xb = x[xoff[r] + (j < h ? j + h : j - h)];
            const double ref = j < h ? xa * c - xb * sn : xa * c + xb * sn;
            const double bound = 3.01 * TEST_U32 * (fabs(xa * c) + fabs(xb * sn)) +
                                 (fabs(xa) + fabs(xb)) * (a + 1) * 0x1p-46;
            const double got = out[r * d + j];
            ck_assert_msg(fabs(got - ref) <= bound, "%s[row %lld, %lld] = %.9g, reference %.17g",
                          what, (long long)r, (long long)j, got, ref);
        }
    }
}

START_TEST(test_rope_op)
{
    struct clf_ctx *ctx = test_ctx();
    /* q and k of a fused projection [B, S, 3·H·D] read as [B, 2H, S, D]
     * (heads by strides, as the encoder does), and a dense 2-D x */
    enum { B = 2, H = 3, S = 37, D = 16, W = 3 * H * D, MAXLEN = 64, S2 = 64, D2 = 8 };
    const double theta = 10000.0, theta2 = 50.0;
    static float qkv[B * S * W], x2[S2 * D2];
    const int64_t qs[3] = {B, S, W}, vs[4] = {B, 2 * H, S, D}, vst[4] = {S * W, D, W, 1};
    const int64_t s2[2] = {S2, D2};
    struct clf_tensor *tq = test_upload(3, qs, qkv), *v = test_view4(tq, vs, vst, 0);
    struct clf_tensor *t2 = test_upload(2, s2, x2), *table = NULL, *table2 = NULL;
    ck_assert_ok(ctx, clf_rope_table(ctx, MAXLEN, D, theta, &table));
    ck_assert_ok(ctx, clf_rope_table(ctx, S2, D2, theta2, &table2));
    struct clf_graph *g;
    struct clf_tensor *y = NULL, *y2 = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_rope(g, v, table, &y));
    ck_assert_ok(ctx, clf_op_rope(g, t2, table2, &y2)); /* seq = the table's rows */
    ck_assert_int_eq(clf_tensor_ndim(y), 4);
    ck_assert(clf_tensor_is_contiguous(y));
    static int64_t xoff[B * 2 * H * S], xoff2[S2];
    for (int64_t b = 0, r = 0; b < B; b++)
        for (int64_t hh = 0; hh < 2 * H; hh++)
            for (int64_t s = 0; s < S; s++)
                xoff[r++] = b * S * W + hh * D + s * W;
    for (int64_t s = 0; s < S2; s++)
        xoff2[s] = s * D2;
    for (int run = 0; run < 2; run++) {
        test_fill_uniform(qkv, B * S * W, -2, 2);
        test_fill_uniform(x2, S2 * D2, -1, 1);
        test_write_all(tq, qkv);
        test_write_all(t2, x2);
        test_poison(y);
        test_poison(y2);
        ck_assert_ok(ctx, clf_graph_run(g));
        float *out = test_read_all(y), *out2 = test_read_all(y2);
        check_rope(out, qkv, B * 2 * H * S, S, D, xoff, theta, "rope of q,k heads");
        check_rope(out2, x2, S2, S2, D2, xoff2, theta2, "rope of a 2-D x");
        free(out);
        free(out2);
    }
    clf_graph_destroy(g);
    clf_tensor_destroy(v);
    clf_tensor_destroy(tq);
    clf_tensor_destroy(t2);
}
END_TEST

START_TEST(test_rope_op_errors)
{
    struct clf_ctx *ctx = test_ctx();
    struct clf_tensor *table = NULL, *x = NULL, *xlong = NULL, *xodd = NULL, *xd = NULL,
                      *xi8 = NULL, *x1 = NULL, *y = (struct clf_tensor *)ctx;
    int64_t sx[3] = {2, 16, 8}, sl[2] = {17, 8}, so[2] = {4, 7}, sd[2] = {4, 6}, s1[1] = {8};
    ck_assert_ok(ctx, clf_rope_table(ctx, 16, 8, 1e4, &table));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 3, sx, &x));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sl, &xlong));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, so, &xodd));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, sd, &xd));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_I8, 3, sx, &xi8));
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, s1, &x1));
    struct clf_graph *g;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_status(ctx, clf_op_rope(g, xlong, table, &y), CLF_E_SHAPE); /* seq > rows */
    ck_assert_ptr_null(y);
    ck_assert_status(ctx, clf_op_rope(g, xodd, table, &y), CLF_E_SHAPE);  /* odd, differs */
    ck_assert_status(ctx, clf_op_rope(g, xd, table, &y), CLF_E_SHAPE);    /* d differs */
    ck_assert_status(ctx, clf_op_rope(g, xi8, table, &y), CLF_E_SHAPE);   /* dtype */
    ck_assert_status(ctx, clf_op_rope(g, x1, table, &y), CLF_E_SHAPE);    /* no seq axis */
    ck_assert_status(ctx, clf_op_rope(g, table, x, &y), CLF_E_SHAPE);     /* 3-D table */
    ck_assert_status(ctx, clf_op_rope(g, NULL, table, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_rope(g, x, NULL, &y), CLF_E_INVALID_ARG);
    ck_assert_status(ctx, clf_op_rope(g, x, table, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_op_rope(NULL, x, table, &y), CLF_E_INVALID_ARG);
    ck_assert_uint_eq(clf_graph_node_count(g), 0);
    ck_assert_ok(ctx, clf_op_rope(g, x, table, &y));
    ck_assert_uint_eq(clf_graph_node_count(g), 1);
    clf_graph_destroy(g);
    clf_tensor_destroy(x);
    clf_tensor_destroy(xlong);
    clf_tensor_destroy(xodd);
    clf_tensor_destroy(xd);
    clf_tensor_destroy(xi8);
    clf_tensor_destroy(x1);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("posenc");
    TCase *tc = tcase_create("posenc");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sinusoidal_values);
    tcase_add_test(tc, test_sinusoidal_cached);
    tcase_add_test(tc, test_sinusoidal_errors);
    tcase_add_test(tc, test_add);
    tcase_add_test(tc, test_add_errors);
    tcase_add_test(tc, test_lowrank_op);
    tcase_add_test(tc, test_lowrank_op_errors);
    tcase_add_test(tc, test_svd_known_spectrum);
    tcase_add_test(tc, test_svd_errors);
    tcase_add_test(tc, test_factorize_errors);
    tcase_add_test(tc, test_lowrank_sinusoidal_512);
    tcase_add_test(tc, test_rope_table_values);
    tcase_add_test(tc, test_rope_table_hf);
    tcase_add_test(tc, test_rope_table_cached);
    tcase_add_test(tc, test_rope_table_errors);
    tcase_add_test(tc, test_rope_op);
    tcase_add_test(tc, test_rope_op_errors);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
