/* Kernel programs: build, disk cache hits, corrupted entries, cache
 * configuration, the binaries policy, kernel sources from a directory,
 * build failures. The cache tests force program binaries on
 * (CLF_BINARIES_ON): by default they are not written on PoCL. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

/* Collected log messages. */
struct logbuf {
    char text[65536];
    size_t len;
    int errors;
};

static void capture(void *user, enum clf_log_level level, const char *msg)
{
    struct logbuf *b = user;
    if (level == CLF_LOG_ERROR)
        b->errors++;
    int w = snprintf(b->text + b->len, sizeof b->text - b->len, "%s\n", msg);
    if (w > 0)
        b->len += (size_t)w < sizeof b->text - b->len ? (size_t)w : sizeof b->text - b->len - 1;
}

static struct clf_ctx *make_ctx(const char *cache_dir, const char *cl_dir, struct logbuf *log)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = cache_dir;
    p.cl_dir = cl_dir;
    p.program_binaries = CLF_BINARIES_ON;
    if (log) {
        p.log_fn = capture;
        p.log_user = log;
        p.log_level = CLF_LOG_DEBUG;
    }
    struct clf_ctx *ctx = NULL;
    enum clf_status st = clf_ctx_create(&p, &ctx);
    ck_assert_msg(st == CLF_OK, "clf_ctx_create: %s", clf_status_str(st));
    return ctx;
}

static struct clf_ctx_stats stats_of(struct clf_ctx *ctx)
{
    struct clf_ctx_stats s;
    ck_assert_ok(ctx, clf_ctx_stats(ctx, &s));
    return s;
}

/* Lists *.clbin files of dir into names (sorted), returns the count. */
static int list_entries(const char *dir, char names[][4096], int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 6 && !strcmp(e->d_name + len - 6, ".clbin"))
            snprintf(names[n++], 4096, "%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char t[4096];
                memcpy(t, names[i], sizeof t);
                memcpy(names[i], names[j], sizeof t);
                memcpy(names[j], t, sizeof t);
            }
    return n;
}

static long file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void copy_cl(const char *dir, const char *family)
{
    char src[4096], dst[4096];
    size_t len;
    snprintf(src, sizeof src, "%s/cl/%s.cl", CLF_SOURCE_DIR, family);
    snprintf(dst, sizeof dst, "%s/%s.cl", dir, family);
    char *text = test_read_file(src, &len);
    write_file(dst, text, len);
    free(text);
}

START_TEST(test_cold_then_warm)
{
    char *dir = test_make_tmpdir("cache");
    struct clf_ctx *a = make_ctx(dir, NULL, NULL);
    ck_assert_str_eq(clf_ctx_cache_dir(a), dir);
    ck_assert_ok(a, clf_ctx_warmup(a));
    struct clf_ctx_stats sa = stats_of(a);
    ck_assert_uint_gt(sa.programs_built, 0);
    ck_assert_uint_eq(sa.programs_loaded, 0);
    ck_assert_uint_eq(sa.cache_writes, sa.programs_built);
    char names[64][4096];
    ck_assert_int_eq(list_entries(dir, names, 64), (int)sa.programs_built);

    /* the same context serves later requests from memory */
    ck_assert_ok(a, clf_ctx_warmup(a));
    struct clf_ctx_stats sa2 = stats_of(a);
    ck_assert_uint_eq(sa2.programs_built, sa.programs_built);
    ck_assert_uint_eq(sa2.programs_reused, sa.programs_reused + sa.programs_built);
    clf_ctx_destroy(a);

    /* a second context loads every program from disk */
    struct clf_ctx *b = make_ctx(dir, NULL, NULL);
    ck_assert_ok(b, clf_ctx_warmup(b));
    struct clf_ctx_stats sb = stats_of(b);
    ck_assert_uint_eq(sb.programs_built, 0);
    ck_assert_uint_eq(sb.programs_loaded, sa.programs_built);
    ck_assert_uint_eq(sb.cache_rejected, 0);
    printf("programs: %u built cold in %.1f ms, loaded warm in %.1f ms\n", sa.programs_built,
           sa.build_ms, sb.build_ms);
    clf_ctx_destroy(b);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(test_corrupt_entries_rebuilt)
{
    char *dir = test_make_tmpdir("corrupt");
    struct clf_ctx *a = make_ctx(dir, NULL, NULL);
    ck_assert_ok(a, clf_ctx_warmup(a));
    unsigned n = stats_of(a).programs_built;
    clf_ctx_destroy(a);
    char names[64][4096];
    ck_assert_int_eq(list_entries(dir, names, 64), (int)n);
    ck_assert_uint_ge(n, 2);

    /* truncate the first entry, flip one payload byte of the second */
    size_t len;
    char *data = test_read_file(names[0], &len);
    write_file(names[0], data, len / 2);
    free(data);
    data = test_read_file(names[1], &len);
    data[len - len / 3] ^= 0x5a;
    write_file(names[1], data, len);
    free(data);

    struct logbuf log = {.len = 0};
    struct clf_ctx *b = make_ctx(dir, NULL, &log);
    ck_assert_ok(b, clf_ctx_warmup(b));
    struct clf_ctx_stats sb = stats_of(b);
    ck_assert_uint_eq(sb.cache_rejected, 2);
    ck_assert_uint_eq(sb.programs_built, 2);
    ck_assert_uint_eq(sb.programs_loaded, n - 2);
    ck_assert_int_eq(log.errors, 0); /* silent: a debug note, not an error */
    ck_assert_ptr_nonnull(strstr(log.text, "rejected"));
    clf_ctx_destroy(b);

    /* rewritten: the next context loads everything */
    struct clf_ctx *c = make_ctx(dir, NULL, NULL);
    ck_assert_ok(c, clf_ctx_warmup(c));
    ck_assert_uint_eq(stats_of(c).programs_loaded, n);
    clf_ctx_destroy(c);

    /* an entry holding another entry's content (key mismatch), and an
     * empty file, are rejected too */
    data = test_read_file(names[1], &len);
    write_file(names[0], data, len);
    free(data);
    write_file(names[1], "", 0);
    struct clf_ctx *d = make_ctx(dir, NULL, NULL);
    ck_assert_ok(d, clf_ctx_warmup(d));
    ck_assert_uint_eq(stats_of(d).cache_rejected, 2);
    ck_assert_uint_eq(stats_of(d).programs_built, 2);
    ck_assert_int_gt(file_size(names[1]), 40);
    clf_ctx_destroy(d);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(test_cache_disabled_and_env)
{
    char *dir = test_make_tmpdir("disabled");
    char names[8][4096];

    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = dir;
    p.disk_cache = false;
    struct clf_ctx *a = NULL;
    ck_assert_int_eq(clf_ctx_create(&p, &a), CLF_OK);
    ck_assert_ptr_null(clf_ctx_cache_dir(a));
    ck_assert_ok(a, clf_ctx_warmup(a));
    ck_assert_uint_eq(stats_of(a).cache_writes, 0);
    clf_ctx_destroy(a);
    ck_assert_int_eq(list_entries(dir, names, 8), 0);

    struct clf_ctx *b = make_ctx("", NULL, NULL);
    ck_assert_ptr_null(clf_ctx_cache_dir(b));
    clf_ctx_destroy(b);

    /* CLFORMER_CACHE_DIR applies when params leave cache_dir NULL; a nested
     * directory is created on first write */
    char nested[4200];
    snprintf(nested, sizeof nested, "%s/sub", dir);
    setenv("CLFORMER_CACHE_DIR", nested, 1);
    struct clf_ctx *c = make_ctx(NULL, NULL, NULL);
    ck_assert_str_eq(clf_ctx_cache_dir(c), nested);
    ck_assert_ok(c, clf_ctx_warmup(c));
    ck_assert_int_gt(list_entries(nested, names, 8), 0);
    clf_ctx_destroy(c);
    setenv("CLFORMER_CACHE_DIR", "", 1);
    struct clf_ctx *d = make_ctx(NULL, NULL, NULL);
    ck_assert_ptr_null(clf_ctx_cache_dir(d));
    clf_ctx_destroy(d);
    unsetenv("CLFORMER_CACHE_DIR");

    test_remove_dir(nested);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* A context on dir with the binaries policy b. */
static struct clf_ctx *policy_ctx(const char *dir, enum clf_program_binaries b)
{
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = dir;
    p.program_binaries = b;
    struct clf_ctx *ctx = NULL;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    return ctx;
}

/* Runs y = a + a (the elementwise program) and checks y. */
static void run_add(struct clf_ctx *ctx)
{
    const int64_t shape[1] = {67};
    float x[67], y[67];
    for (int i = 0; i < 67; i++)
        x[i] = (float)i;
    struct clf_tensor *a = NULL, *out = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 1, shape, &a));
    ck_assert_ok(ctx, clf_tensor_write(a, x, sizeof x));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_add(g, a, a, &out));
    ck_assert_ok(ctx, clf_graph_run(g));
    ck_assert_ok(ctx, clf_tensor_read(out, y, sizeof y));
    for (int i = 0; i < 67; i++)
        ck_assert_float_eq(y[i], 2.0f * (float)i);
    clf_graph_destroy(g);
    clf_tensor_destroy(a);
}

/* AUTO writes no binary where the driver caches its builds (PoCL) and
 * reads those it finds; ON writes them; OFF neither reads nor writes;
 * CLFORMER_BINARIES sets the default and a bad value is refused. */
START_TEST(test_binaries_policy)
{
    char *dir = test_make_tmpdir("policy");
    char names[8][4096];
    struct clf_ctx *a = policy_ctx(dir, CLF_BINARIES_AUTO);
    struct clf_device_info info;
    ck_assert_ok(a, clf_ctx_device_info(a, &info));
    bool pocl = strstr(info.platform_name, "Portable Computing Language") != NULL;
    run_add(a);
    struct clf_ctx_stats s = stats_of(a);
    ck_assert_uint_ge(s.programs_built, 1);
    ck_assert_uint_eq(s.cache_writes, pocl ? 0 : s.programs_built);
    ck_assert_int_eq(list_entries(dir, names, 8), (int)s.cache_writes);
    clf_ctx_destroy(a);

    struct clf_ctx *b = policy_ctx(dir, CLF_BINARIES_ON);
    run_add(b);
    s = stats_of(b);
    ck_assert_uint_eq(s.cache_writes, s.programs_built); /* each build written */
    int written = list_entries(dir, names, 8);
    ck_assert_int_eq(written, (int)(s.programs_built + s.programs_loaded));
    ck_assert_int_ge(written, 1);
    clf_ctx_destroy(b);

    struct clf_ctx *c = policy_ctx(dir, CLF_BINARIES_AUTO); /* reads what it finds */
    run_add(c);
    s = stats_of(c);
    ck_assert_uint_eq(s.programs_loaded, (unsigned)written);
    ck_assert_uint_eq(s.programs_built, 0);
    clf_ctx_destroy(c);

    setenv("CLFORMER_BINARIES", "off", 1);
    struct clf_ctx *d = NULL;
    ck_assert_int_eq(clf_ctx_params_default().program_binaries, CLF_BINARIES_OFF);
    struct clf_ctx_params p = clf_ctx_params_default();
    p.cache_dir = dir;
    ck_assert_int_eq(clf_ctx_create(&p, &d), CLF_OK);
    run_add(d);
    s = stats_of(d);
    ck_assert_uint_eq(s.programs_loaded, 0);
    ck_assert_uint_eq(s.cache_writes, 0);
    ck_assert_uint_ge(s.programs_built, 1);
    clf_ctx_destroy(d);

    struct logbuf log = {.len = 0};
    p.log_fn = capture;
    p.log_user = &log;
    setenv("CLFORMER_BINARIES", "sometimes", 1);
    ck_assert_int_eq(clf_ctx_create(&p, &d), CLF_E_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(log.text, "CLFORMER_BINARIES 'sometimes'"));
    unsetenv("CLFORMER_BINARIES");
    p.program_binaries = (enum clf_program_binaries)7;
    ck_assert_int_eq(clf_ctx_create(&p, &d), CLF_E_INVALID_ARG);
    ck_assert_ptr_null(d);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

/* Binaries written later: what an AUTO context on PoCL built from source
 * without writing (clf_ctx_unsaved_programs) is written by another
 * context (clf_ctx_save_binaries), which a third then loads; the size
 * query, a buffer too small, lists refused before anything is built, the
 * lock of another saver, and a context without a cache. Elsewhere (a
 * driver without a build cache) AUTO writes every binary at once and
 * leaves nothing unsaved. */
START_TEST(test_save_binaries_later)
{
    char *dir = test_make_tmpdir("later");
    char names[8][4096], list[4096];
    size_t need = 0;
    struct clf_ctx *a = policy_ctx(dir, CLF_BINARIES_AUTO);
    struct clf_device_info info;
    ck_assert_ok(a, clf_ctx_device_info(a, &info));
    const bool pocl = strstr(info.platform_name, "Portable Computing Language") != NULL;
    run_add(a);
    const unsigned built = stats_of(a).programs_built;
    ck_assert_uint_ge(built, 1);
    ck_assert_ok(a, clf_ctx_unsaved_programs(a, NULL, 0, &need));
    ck_assert_ok(a, clf_ctx_unsaved_programs(a, list, sizeof list, NULL));
    ck_assert_uint_eq(need, strlen(list) + 1);
    unsigned lines = 0;
    for (const char *c = list; *c; c++)
        lines += *c == '\n';
    ck_assert_uint_eq(lines, pocl ? built : 0);
    if (pocl) {
        ck_assert_msg(!strncmp(list, "elementwise\t", 12), "%s", list);
        char small[8];
        ck_assert_status(a, clf_ctx_unsaved_programs(a, small, sizeof small, NULL),
                         CLF_E_INVALID_ARG);
        ck_assert_uint_eq(strlen(small), sizeof small - 1);
    }
    const int at_once = pocl ? 0 : (int)built; /* written by a itself */
    ck_assert_int_eq(list_entries(dir, names, 8), at_once);
    clf_ctx_destroy(a);

    struct clf_ctx *b = policy_ctx(dir, CLF_BINARIES_AUTO);
    int saved = -1;
    static const char *const bad[] = {"elementwise", "elementwise\t-DX=1", "../x\t-DX=1\n",
                                      "Elementwise\t\n", "rows\t-DX=1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_status(b, clf_ctx_save_binaries(b, bad[i], &saved), CLF_E_INVALID_ARG);
        ck_assert_int_eq(saved, 0);
    }
    ck_assert(strstr(clf_ctx_last_error(b), "'rows\t-DX=1'")); /* rows is in elementwise's bundle */
    char mixed[4200]; /* a good list, then a bad line: nothing built */
    snprintf(mixed, sizeof mixed, "%srows\t-DX=1\n", list);
    ck_assert_status(b, clf_ctx_save_binaries(b, mixed, &saved), CLF_E_INVALID_ARG);
    ck_assert_int_eq(saved, 0);
    ck_assert_int_ne(clf_ctx_save_binaries(b, "nosuchfamily\t-DX=1\n", &saved), CLF_OK);
    ck_assert_int_eq(list_entries(dir, names, 8), at_once);
    if (pocl) {
        char lock[4200]; /* another saver holds the lock: nothing done */
        snprintf(lock, sizeof lock, "%s/binaries.lock", dir);
        int fd = open(lock, O_RDWR | O_CREAT, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX), 0);
        ck_assert_ok(b, clf_ctx_save_binaries(b, list, &saved));
        ck_assert_int_eq(saved, 0);
        ck_assert_int_eq(list_entries(dir, names, 8), 0);
        close(fd);
        ck_assert_ok(b, clf_ctx_save_binaries(b, list, &saved));
        ck_assert_int_eq(saved, (int)built);
        ck_assert_int_eq(list_entries(dir, names, 8), (int)built);
        ck_assert_ok(b, clf_ctx_save_binaries(b, list, &saved)); /* there already */
        ck_assert_int_eq(saved, 0);
    }
    clf_ctx_destroy(b);

    struct clf_ctx *c = policy_ctx(dir, CLF_BINARIES_AUTO);
    run_add(c);
    ck_assert_uint_eq(stats_of(c).programs_built, 0); /* loaded: written by b, or a at once */
    ck_assert_ok(c, clf_ctx_unsaved_programs(c, list, sizeof list, NULL));
    ck_assert_str_eq(list, "");
    clf_ctx_destroy(c);

    struct clf_ctx *d = policy_ctx(dir, CLF_BINARIES_OFF);
    ck_assert_status(d, clf_ctx_save_binaries(d, "", &saved), CLF_E_INVALID_ARG);
    ck_assert(strstr(clf_ctx_last_error(d), "no program cache"));
    clf_ctx_destroy(d);
    ck_assert_int_eq(clf_ctx_unsaved_programs(NULL, list, sizeof list, NULL), CLF_E_INVALID_ARG);
    ck_assert_int_eq(clf_ctx_save_binaries(NULL, "", NULL), CLF_E_INVALID_ARG);
    test_remove_dir(dir);
    free(dir);
}
END_TEST

START_TEST(test_broken_kernel)
{
    /* every source, quant.cl broken */
    char *cl = test_make_tmpdir("broken-cl");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cl", CLF_SOURCE_DIR);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 3 && !strcmp(e->d_name + len - 3, ".cl")) {
            char family[256];
            snprintf(family, sizeof family, "%.*s", (int)(len - 3), e->d_name);
            copy_cl(cl, family);
        }
    }
    closedir(d);
    char path[4200];
    snprintf(path, sizeof path, "%s/quant.cl", cl);
    const char *broken = "__kernel void quant_reduce(__global float *x)\n"
                         "{\n    x[0] = undeclared_identifier_xyz;\n}\n";
    write_file(path, broken, strlen(broken));

    struct logbuf log = {.len = 0};
    struct clf_ctx *ctx = make_ctx("", cl, &log);
    ck_assert_status(ctx, clf_ctx_warmup(ctx), CLF_E_BUILD);
    ck_assert_int_ge(log.errors, 1);
    ck_assert_ptr_nonnull(strstr(log.text, "quant.cl"));
    ck_assert_ptr_nonnull(strstr(log.text, "undeclared_identifier_xyz")); /* the build log */
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "undeclared_identifier_xyz"));

    /* an op that needs the broken program reports it; the context stays
     * usable for what does not (elementwise.cl, copy.cl) */
    int64_t shape[2] = {3, 4};
    struct clf_tensor *a = NULL, *y = NULL, *col = NULL, *q = NULL, *scale = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 2, shape, &a));
    float host[12];
    for (int i = 0; i < 12; i++)
        host[i] = (float)i;
    ck_assert_ok(ctx, clf_tensor_write(a, host, sizeof host));
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_quant_params qp = clf_quant_params_default();
    ck_assert_ok(ctx, clf_op_quantize(g, a, &qp, &q, &scale, NULL));
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_BUILD);
    clf_graph_destroy(g);
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    ck_assert_ok(ctx, clf_op_add(g, a, a, &y));
    ck_assert_ok(ctx, clf_graph_run(g));
    float sum[12];
    ck_assert_ok(ctx, clf_tensor_read(y, sum, sizeof sum));
    ck_assert_float_eq(sum[11], 22.0f);
    clf_graph_destroy(g);
    ck_assert_ok(ctx, clf_tensor_slice(a, 1, 2, 1, &col)); /* strided: read goes through copy */
    float got[3] = {-1, -1, -1};
    ck_assert_ok(ctx, clf_tensor_read(col, got, sizeof got));
    ck_assert_float_eq(got[0], 2.0f);
    ck_assert_float_eq(got[1], 6.0f);
    ck_assert_float_eq(got[2], 10.0f);
    clf_tensor_destroy(col);
    clf_tensor_destroy(a);
    clf_ctx_destroy(ctx);
    test_remove_dir(cl);
    free(cl);
}
END_TEST

/* `#include "x.cl"` lines are spliced by the host: a source that includes
 * itself is an error, not a hang. */
START_TEST(test_include_cycle)
{
    char *cl = test_make_tmpdir("cycle-cl");
    copy_cl(cl, "common");
    char path[4200];
    snprintf(path, sizeof path, "%s/attention_common.cl", cl);
    const char *loop = "#include \"attention_common.cl\"\n";
    write_file(path, loop, strlen(loop));
    snprintf(path, sizeof path, "%s/attention.cl", cl);
    const char *user = "#include \"attention_common.cl\"\n__kernel void k(void) {}\n";
    write_file(path, user, strlen(user));
    struct clf_ctx *ctx = make_ctx("", cl, NULL);
    int64_t s[4] = {1, 1, 4, 8};
    struct clf_tensor *q = NULL, *y = NULL;
    struct clf_graph *g = NULL;
    ck_assert_ok(ctx, clf_tensor_create(ctx, CLF_F32, 4, s, &q));
    ck_assert_ok(ctx, clf_graph_create(ctx, &g));
    struct clf_attention_params p = clf_attention_params_default();
    p.impl = CLF_ATTN_FUSED;
    ck_assert_ok(ctx, clf_op_attention(g, q, q, q, &p, &y));
    ck_assert_status(ctx, clf_graph_run(g), CLF_E_BUILD);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(ctx), "#include"));
    clf_graph_destroy(g);
    clf_tensor_destroy(q);
    clf_ctx_destroy(ctx);
    test_remove_dir(cl);
    free(cl);
}
END_TEST

START_TEST(test_cl_dir)
{
    /* CLFORMER_CL_DIR: sources read from disk */
    char src[4200];
    snprintf(src, sizeof src, "%s/cl", CLF_SOURCE_DIR);
    setenv("CLFORMER_CL_DIR", src, 1);
    struct clf_ctx *a = make_ctx("", NULL, NULL);
    ck_assert_ok(a, clf_ctx_warmup(a));
    clf_ctx_destroy(a);
    unsetenv("CLFORMER_CL_DIR");

    /* a directory without the sources: an I/O error naming the file */
    char *empty = test_make_tmpdir("empty-cl");
    struct clf_ctx *b = make_ctx("", empty, NULL);
    ck_assert_status(b, clf_ctx_warmup(b), CLF_E_IO);
    ck_assert_ptr_nonnull(strstr(clf_ctx_last_error(b), ".cl"));
    clf_ctx_destroy(b);
    test_remove_dir(empty);
    free(empty);
}
END_TEST

START_TEST(test_bad_device_spec)
{
    struct logbuf log = {.len = 0};
    struct clf_ctx_params p = clf_ctx_params_default();
    p.device = "no-such-device-anywhere";
    p.log_fn = capture;
    p.log_user = &log;
    struct clf_ctx *ctx = (struct clf_ctx *)&log; /* must be reset to NULL */
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_E_DEVICE_SPEC);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(log.errors, 1);
    ck_assert_ptr_nonnull(strstr(log.text, "no-such-device-anywhere"));
    ck_assert_ptr_nonnull(strstr(log.text, "devices:")); /* lists what exists */

    setenv("CLFORMER_DEVICE", "no-such-device-anywhere", 1);
    ck_assert_int_eq(clf_ctx_create(NULL, &ctx), CLF_E_DEVICE_SPEC);
    p.device = "0:0"; /* params win over the environment */
    p.log_fn = NULL;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_OK);
    clf_ctx_destroy(ctx);
    unsetenv("CLFORMER_DEVICE");

    p.log_level = (enum clf_log_level)42;
    ck_assert_int_eq(clf_ctx_create(&p, &ctx), CLF_E_INVALID_ARG);
}
END_TEST

int main(void)
{
    test_require_device();
    test_seed();
    Suite *s = suite_create("program");
    TCase *tc = tcase_create("build");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_cold_then_warm);
    tcase_add_test(tc, test_corrupt_entries_rebuilt);
    tcase_add_test(tc, test_cache_disabled_and_env);
    tcase_add_test(tc, test_binaries_policy);
    tcase_add_test(tc, test_save_binaries_later);
    tcase_add_test(tc, test_broken_kernel);
    tcase_add_test(tc, test_cl_dir);
    tcase_add_test(tc, test_include_cycle);
    tcase_add_test(tc, test_bad_device_spec);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
