/* Kernel program sources, builds and the per-context program table. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fault.h"
#include "file.h"
#include "program.h"

static const char *embedded(const char *family)
{
    for (size_t i = 0; i < clf_cl_sources_count; i++)
        if (!strcmp(clf_cl_sources[i].family, family))
            return clf_cl_sources[i].text;
    return NULL;
}

/* Reads <cl_dir>/<family>.cl into a malloc'd string. */
static enum clf_status read_cl_file(struct clf_ctx *ctx, const char *family, char **text)
{
    char path[4096], why[512];
    snprintf(path, sizeof path, "%s/%s.cl", ctx->cl_dir, family);
    struct clf_msg m = clf_msg_init(why, sizeof why);
    enum clf_status st = clf_file_read(&m, path, SIZE_MAX, text, NULL);
    return st == CLF_OK ? CLF_OK : clf_fail(ctx, st, "kernel source (CLFORMER_CL_DIR) %s", why);
}

static enum clf_status family_text(struct clf_ctx *ctx, const char *family, char **text)
{
    *text = NULL;
    if (!embedded(family))
        return clf_fail(ctx, CLF_E_INVALID_ARG, "unknown kernel family '%s'", family);
    if (ctx->cl_dir)
        return read_cl_file(ctx, family, text);
    *text = strdup(embedded(family));
    return *text ? CLF_OK : clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for kernel source");
}

/* Families built together as one program, with the same options: a build
 * costs PoCL about 65 ms warm and 150 ms cold however small the source
 * (clang preprocesses its OpenCL headers each time), and every forward
 * pass of a model uses these small families together. Their kernels' and
 * helpers' names must not clash. */
static const char *const together[] = {"elementwise", "rows", "posenc", "pooling", "copy"};
#define N_TOGETHER (sizeof together / sizeof together[0])
/* How messages name that program. */
static const char together_label[] = "elementwise.cl+rows.cl+posenc.cl+pooling.cl+copy.cl";

const char *clf_program_name(const char *family)
{
    for (size_t i = 0; i < N_TOGETHER; i++)
        if (!strcmp(family, together[i]))
            return together[0];
    return family;
}

/* The program's .cl files, for messages: "NAME.cl" or together's. */
static void program_label(const char *name, char *buf, size_t size)
{
    if (!strcmp(name, together[0]))
        snprintf(buf, size, "%s", together_label);
    else
        snprintf(buf, size, "%s.cl", name);
}

bool clf_program_is_family(const char *name)
{
    size_t n = strlen(name);
    return strcmp(name, "common") != 0 && !(n > 7 && !strcmp(name + n - 7, "_common"));
}

/* Replaces each line `#include "NAME.cl"` of *text by NAME's source (one
 * level: included files include nothing). The OpenCL compiler never sees
 * our embedded files, so the host splices them. */
static enum clf_status splice_includes(struct clf_ctx *ctx, char **text)
{
    static const char tag[] = "#include \"";
    char *at;
    int spliced = 0;
    while ((at = strstr(*text, tag)) != NULL) {
        if (++spliced > 16)
            return clf_fail(ctx, CLF_E_BUILD, "too many #include lines (a cycle?) in a kernel source");
        char *name = at + sizeof tag - 1, *end = strstr(name, ".cl\"");
        if (!end || memchr(name, '\n', (size_t)(end - name)))
            return clf_fail(ctx, CLF_E_BUILD, "malformed #include in a kernel source");
        char family[64];
        size_t len = (size_t)(end - name);
        if (len >= sizeof family)
            return clf_fail(ctx, CLF_E_BUILD, "#include name too long in a kernel source");
        memcpy(family, name, len);
        family[len] = 0;
        char *inc = NULL;
        enum clf_status st = family_text(ctx, family, &inc);
        if (st != CLF_OK)
            return st;
        size_t head = (size_t)(at - *text), tail_at = head + (size_t)(end + 4 - at);
        size_t n_inc = strlen(inc), n_tail = strlen(*text + tail_at);
        char *joined = malloc(head + n_inc + n_tail + 1);
        if (!joined) {
            free(inc);
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for kernel source");
        }
        memcpy(joined, *text, head);
        memcpy(joined + head, inc, n_inc);
        memcpy(joined + head + n_inc, *text + tail_at, n_tail + 1);
        free(inc);
        free(*text);
        *text = joined;
    }
    return CLF_OK;
}

/* Appends "\n" and family's source (includes spliced) to *text. */
static enum clf_status append_family(struct clf_ctx *ctx, const char *family, char **text)
{
    char *body = NULL;
    enum clf_status st = family_text(ctx, family, &body);
    if (st == CLF_OK)
        st = splice_includes(ctx, &body);
    if (st == CLF_OK) {
        size_t a = strlen(*text), b = strlen(body);
        char *all = realloc(*text, a + b + 2);
        if (!all) {
            st = clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for kernel source");
        } else {
            all[a] = '\n';
            memcpy(all + a + 1, body, b + 1);
            *text = all;
        }
    }
    free(body);
    return st;
}

enum clf_status clf_program_source(struct clf_ctx *ctx, const char *family, char **text)
{
    char *all = NULL;
    *text = NULL;
    enum clf_status st = family_text(ctx, "common", &all);
    bool bundle = !strcmp(clf_program_name(family), together[0]);
    size_t n = bundle ? N_TOGETHER : 1;
    for (size_t i = 0; st == CLF_OK && i < n; i++)
        st = append_family(ctx, bundle ? together[i] : family, &all);
    if (st != CLF_OK) {
        free(all);
        return st;
    }
    *text = all;
    return CLF_OK;
}

/* Fetches the build log of a failed build (malloc'd, may be NULL). */
static char *build_log(struct clf_ctx *ctx, cl_program prog)
{
    size_t n = 0;
    if (clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS)
        return NULL;
    char *log = calloc(n + 1, 1);
    if (log && clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, n, log, NULL) !=
                   CL_SUCCESS) {
        free(log);
        return NULL;
    }
    return log;
}

/* Builds from the cached binary; NULL when there is none or it does not load. */
static cl_program build_from_cache(struct clf_ctx *ctx, const unsigned char key[16],
                                   const char *options)
{
    unsigned char *bin = NULL;
    size_t size = 0;
    if (!ctx->read_binaries || !clf_cache_load(ctx, key, &bin, &size))
        return NULL;
    cl_int err = CL_SUCCESS, bin_status = CL_SUCCESS;
    const unsigned char *bins[1] = {bin};
    cl_program prog = clf_fault(CLF_FAULT_BUILD, &err) ? NULL :
        clCreateProgramWithBinary(ctx->context, 1, &ctx->device, &size, bins, &bin_status, &err);
    free(bin);
    if (err == CL_SUCCESS && bin_status == CL_SUCCESS &&
        clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL) == CL_SUCCESS)
        return prog;
    if (prog)
        clReleaseProgram(prog);
    ctx->stats.cache_rejected++;
    clf_log(ctx, CLF_LOG_DEBUG, "cached program binary did not load; rebuilding from source");
    return NULL;
}

static void store_binary(struct clf_ctx *ctx, cl_program prog, const unsigned char key[16])
{
    size_t size = 0;
    if (!ctx->cache_dir ||
        clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    unsigned char *bins[1] = {bin};
    if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS)
        clf_cache_store(ctx, key, bin, size);
    free(bin);
}

/* Builds program `name` (clf_program_name) with options into *out; its
 * binary written to the cache when the context writes binaries or store
 * says so. *unsaved: built from source and its binary not written though
 * the context reads binaries (NULL: not asked). */
static enum clf_status build(struct clf_ctx *ctx, const char *name, const char *options,
                             bool store, cl_program *out, bool *unsaved)
{
    char *src = NULL, label[80];
    cl_program prog = NULL;
    unsigned char key[16];
    bool shown = false;
    double t0 = clf_now_ms();
    program_label(name, label, sizeof label);
    enum clf_status st = clf_program_source(ctx, name, &src);
    if (st != CLF_OK)
        return st;

    clf_cache_key(ctx, src, options, key);
    prog = build_from_cache(ctx, key, options);
    if (prog) {
        ctx->stats.programs_loaded++;
        goto done;
    }

    /* a build at first use: one item of its own on the progress handler
     * (0.1-2 s cold), cleared when done */
    shown = ctx->progress_fn && !ctx->warming; /* clf_ctx_warmup counts its own */
    if (shown)
        ctx->progress_fn(ctx->progress_user, "building kernels", 0, 1, label);
    cl_int err = CL_SUCCESS;
    const char *srcs[1] = {src};
    prog = clCreateProgramWithSource(ctx->context, 1, srcs, NULL, &err);
    if (err != CL_SUCCESS) {
        st = clf_fail_cl(ctx, err, "clCreateProgramWithSource");
        goto done;
    }
    err = clf_fault(CLF_FAULT_BUILD, &err) ? err : clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
    if (err != CL_SUCCESS) {
        char *log = build_log(ctx, prog);
        clf_log(ctx, CLF_LOG_ERROR, "building %s with '%s' failed (%s):\n%s", label, options,
                clf_cl_error_name(err), log ? log : "(no build log)");
        st = clf_fail(ctx, CLF_E_BUILD, "building %s failed (%s): %s", label,
                      clf_cl_error_name(err), log ? log : "(no build log)");
        free(log);
        clReleaseProgram(prog);
        prog = NULL;
        goto done;
    }
    ctx->stats.programs_built++;
    if (store || ctx->write_binaries)
        store_binary(ctx, prog, key);
    else if (unsaved)
        *unsaved = ctx->read_binaries;
done:
    if (shown)
        ctx->progress_fn(ctx->progress_user, "building kernels", 1, 1, NULL);
    free(src);
    ctx->stats.build_ms += clf_now_ms() - t0;
    *out = prog;
    return st;
}

enum clf_status clf_program_get(struct clf_ctx *ctx, const char *family, const char *extra,
                                struct clf_program_entry **out)
{
    family = clf_program_name(family); /* the program holding the family */
    char options[1024];
    int w = snprintf(options, sizeof options, "%s%s%s", ctx->base_options, extra ? " " : "",
                     extra ? extra : "");
    *out = NULL;
    if (w < 0 || (size_t)w >= sizeof options)
        return clf_fail(ctx, CLF_E_INVALID_ARG, "build options too long for %s.cl", family);
    for (size_t i = 0; i < ctx->n_programs; i++) {
        struct clf_program_entry *e = &ctx->programs[i];
        if (!strcmp(e->family, family) && !strcmp(e->options, options)) {
            ctx->stats.programs_reused++;
            *out = e;
            return CLF_OK;
        }
    }
    if (ctx->n_programs == ctx->cap_programs) {
        size_t cap = ctx->cap_programs ? 2 * ctx->cap_programs : 8;
        struct clf_program_entry *grown = realloc(ctx->programs, cap * sizeof *grown);
        if (!grown)
            return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the program table");
        ctx->programs = grown;
        ctx->cap_programs = cap;
    }
    struct clf_program_entry e = {strdup(family), strdup(options), NULL, false, NULL, 0};
    if (!e.family || !e.options) {
        free(e.family);
        free(e.options);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the program table");
    }
    enum clf_status st = build(ctx, family, options, false, &e.program, &e.unsaved);
    if (st != CLF_OK) {
        free(e.family);
        free(e.options);
        return st;
    }
    ctx->programs[ctx->n_programs] = e;
    *out = &ctx->programs[ctx->n_programs++];
    return CLF_OK;
}

enum clf_status clf_kernel_get(struct clf_ctx *ctx, const char *family, const char *extra,
                               const char *kernel, cl_kernel *out)
{
    struct clf_program_entry *prog = NULL;
    *out = NULL;
    enum clf_status st = clf_program_get(ctx, family, extra, &prog);
    if (st != CLF_OK)
        return st;
    for (size_t i = 0; i < prog->n_kernels; i++)
        if (!strcmp(prog->kernels[i].name, kernel)) {
            *out = prog->kernels[i].kernel;
            return CLF_OK;
        }
    struct clf_kernel_entry *grown =
        realloc(prog->kernels, (prog->n_kernels + 1) * sizeof *grown);
    if (!grown)
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the kernel table");
    prog->kernels = grown;
    cl_int err = CL_SUCCESS;
    cl_kernel k = clCreateKernel(prog->program, kernel, &err);
    if (err != CL_SUCCESS) {
        clf_fail_cl(ctx, err, "clCreateKernel");
        return clf_fail(ctx, err == CL_INVALID_KERNEL_NAME ? CLF_E_BUILD : CLF_E_OPENCL,
                        "kernel '%s' of %s.cl: %s", kernel, family, clf_cl_error_name(err));
    }
    char *name = strdup(kernel);
    if (!name) {
        clReleaseKernel(k);
        return clf_fail(ctx, CLF_E_OUT_OF_MEMORY, "no memory for the kernel table");
    }
    prog->kernels[prog->n_kernels].name = name;
    prog->kernels[prog->n_kernels].kernel = k;
    prog->n_kernels++;
    *out = k;
    return CLF_OK;
}

void clf_programs_release(struct clf_ctx *ctx)
{
    for (size_t i = 0; i < ctx->n_programs; i++) {
        struct clf_program_entry *e = &ctx->programs[i];
        for (size_t k = 0; k < e->n_kernels; k++) {
            clReleaseKernel(e->kernels[k].kernel);
            free(e->kernels[k].name);
        }
        free(e->kernels);
        clReleaseProgram(e->program);
        free(e->family);
        free(e->options);
    }
    free(ctx->programs);
    ctx->programs = NULL;
    ctx->n_programs = ctx->cap_programs = 0;
}

/* ------------------------------------------------------------------------ */
/* Binaries written later (clf_ctx_unsaved_programs, clf_ctx_save_binaries)  */
/* ------------------------------------------------------------------------ */

enum clf_status clf_ctx_unsaved_programs(struct clf_ctx *ctx, char *buf, size_t size,
                                         size_t *needed)
{
    if (!ctx || (!buf && size))
        return CLF_E_INVALID_ARG;
    size_t at = 0;
    for (size_t i = 0; i < ctx->n_programs; i++) {
        const struct clf_program_entry *e = &ctx->programs[i];
        if (!e->unsaved)
            continue;
        int w = snprintf(at < size ? buf + at : NULL, at < size ? size - at : 0, "%s\t%s\n",
                         e->family, e->options);
        at += w > 0 ? (size_t)w : 0;
    }
    if (needed)
        *needed = at + 1;
    if (at >= size) {
        if (size)
            buf[size - 1] = 0;
        return buf ? clf_fail(ctx, CLF_E_INVALID_ARG,
                              "unsaved programs: %zu bytes needed, %zu given", at + 1, size)
                   : CLF_OK;
    }
    buf[at] = 0;
    return CLF_OK;
}

/* A program's name as the library spells them (letters, digits, '_'; the
 * list is read from another process, and a name becomes a file name with
 * CLFORMER_CL_DIR) and built on its own, not a family of a bundle. */
static bool program_name_ok(const char *s, size_t n)
{
    char name[65];
    if (!n || n >= sizeof name)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    snprintf(name, sizeof name, "%.*s", (int)n, s);
    return !strcmp(clf_program_name(name), name);
}

enum clf_status clf_ctx_save_binaries(struct clf_ctx *ctx, const char *list, int *saved)
{
    if (saved)
        *saved = 0;
    if (!ctx || !list)
        return CLF_E_INVALID_ARG;
    if (!ctx->read_binaries) /* no cache directory, or CLFORMER_BINARIES off */
        return clf_fail(ctx, CLF_E_INVALID_ARG,
                        "saving program binaries: the context has no program cache (an empty "
                        "CLFORMER_CACHE_DIR, a folder others may write, or CLFORMER_BINARIES=off)");
    /* every line checked before anything is built */
    for (const char *l = list; *l;) {
        const char *tab = strchr(l, '\t'), *nl = strchr(l, '\n');
        if (!nl || !tab || tab > nl || !program_name_ok(l, (size_t)(tab - l)) ||
            (size_t)(nl - tab - 1) >= 1024) {
            const size_t len = nl ? (size_t)(nl - l) : strlen(l);
            return clf_fail(ctx, CLF_E_INVALID_ARG,
                            "saving program binaries: line '%.*s%s' is not FAMILY<tab>OPTIONS "
                            "(clf_ctx_unsaved_programs' text)",
                            (int)(len < 40 ? len : 40), l, len > 40 ? "..." : "");
        }
        l = nl + 1;
    }
    /* one saver per cache directory: each binary costs PoCL seconds of
       compiling, and two savers would compile the same ones */
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/binaries.lock", ctx->cache_dir);
    int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return clf_fail(ctx, CLF_E_IO, "saving program binaries: %s: %s", lock, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        clf_log(ctx, CLF_LOG_INFO, "another process is saving program binaries into %s",
                ctx->cache_dir);
        return CLF_OK;
    }
    enum clf_status st = CLF_OK;
    for (const char *l = list; *l && st == CLF_OK;) {
        const char *tab = strchr(l, '\t'), *nl = strchr(l, '\n');
        char family[65], options[1024];
        snprintf(family, sizeof family, "%.*s", (int)(tab - l), l);
        snprintf(options, sizeof options, "%.*s", (int)(nl - tab - 1), tab + 1);
        l = nl + 1;
        cl_program prog = NULL;
        const unsigned built = ctx->stats.programs_built; /* else found in the cache */
        st = build(ctx, family, options, true, &prog, NULL);
        if (prog)
            clReleaseProgram(prog);
        if (st == CLF_OK && saved && ctx->stats.programs_built > built)
            (*saved)++;
    }
    close(fd); /* and the lock with it */
    return st;
}
