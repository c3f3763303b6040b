/* `clformer` under mpirun (see cli_mpi.h). */
#include "cli_mpi.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>
#include <time.h>

#include "clformer.h"

#ifdef CLF_HAVE_MPI
#include <mpi.h> /* Open MPI's (this file's own header is cli_mpi.h) */
#endif

bool cli_mpi_launched(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return true;
    return false;
}

#ifdef CLF_HAVE_MPI
static int env_int(const char *name, int dflt)
{
    const char *s = getenv(name);
    char *end;
    long v = s ? strtol(s, &end, 10) : 0;
    return s && *s && !*end && v >= 0 && v <= INT_MAX ? (int)v : dflt;
}
#endif

void cli_mpi_begin(struct cli_mpi *m)
{
    memset(m, 0, sizeof *m);
    m->size = 1;
#ifdef CLF_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!cli_mpi_launched() || inited || MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return;
    m->active = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    m->local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("MPI_LOCALRANKID", m->rank));
#endif
}

void cli_mpi_end(struct cli_mpi *m)
{
#ifdef CLF_HAVE_MPI
    if (m->active)
        MPI_Finalize();
#endif
    m->active = false;
}

bool cli_mpi_all_ok(const struct cli_mpi *m, bool ok)
{
#ifdef CLF_HAVE_MPI
    if (m->active) {
        int mine = ok, all = 0;
        if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD) != MPI_SUCCESS)
            return false;
        return all != 0;
    }
#else
    (void)m;
#endif
    return ok;
}

bool cli_mpi_same(const struct cli_mpi *m, uint64_t hash)
{
#ifdef CLF_HAVE_MPI
    if (m->active) {
        unsigned long long h = hash, lo = 0, hi = 0;
        return MPI_Allreduce(&h, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD) ==
                   MPI_SUCCESS &&
               MPI_Allreduce(&h, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD) ==
                   MPI_SUCCESS &&
               lo == hi;
    }
#else
    (void)m, (void)hash;
#endif
    return true;
}

void cli_mpi_barrier(const struct cli_mpi *m)
{
#ifdef CLF_HAVE_MPI
    if (m->active)
        MPI_Barrier(MPI_COMM_WORLD);
#else
    (void)m;
#endif
}

void cli_mpi_barrier_idle(const struct cli_mpi *m)
{
#ifdef CLF_HAVE_MPI
    MPI_Request req;
    int done = 0;
    if (!m->active || MPI_Ibarrier(MPI_COMM_WORLD, &req) != MPI_SUCCESS)
        return;
    const struct timespec ms = {0, 1000000};
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done)
        nanosleep(&ms, NULL);
#else
    (void)m;
#endif
}

double cli_mpi_max(const struct cli_mpi *m, double x)
{
#ifdef CLF_HAVE_MPI
    double r = x;
    if (m->active && MPI_Allreduce(&x, &r, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD) == MPI_SUCCESS)
        return r;
#else
    (void)m;
#endif
    return x;
}

void cli_shard(size_t n, int parts, int r, size_t *first, size_t *count)
{
    size_t p = (size_t)parts, q = n / p, extra = n % p, i = (size_t)r;
    *first = i * q + (i < extra ? i : extra);
    *count = q + (i < extra ? 1 : 0);
}

/* Gathers each rank's counts[rank] floats from local on rank 0 into all
 * (rank order; on other ranks all is not used; on rank 0 local may be all:
 * its share is then already in place, at the start). Each count must fit
 * an int (MPI's count type). false on an MPI error or a count over
 * INT_MAX. Not active: copies. */
static bool gather(const struct cli_mpi *m, const float *local, const size_t *counts, float *all)
{
#ifdef CLF_HAVE_MPI
    if (m->active) {
        int *cnt = malloc((size_t)m->size * sizeof *cnt), *disp = malloc((size_t)m->size * sizeof *disp);
        bool ok = cnt && disp;
        size_t off = 0;
        for (int r = 0; ok && r < m->size; r++) {
            ok = counts[r] <= INT_MAX && off <= INT_MAX;
            cnt[r] = (int)counts[r];
            disp[r] = (int)off;
            off += counts[r];
        }
        /* every rank takes part (a rank that failed the checks above would
         * leave the others waiting: the checks depend only on counts, the
         * same everywhere) */
        /* the root's own share may already be in place (local == all) */
        const void *send = m->rank == 0 && local == all ? MPI_IN_PLACE : (const void *)local;
        ok = ok && MPI_Gatherv(send, cnt[m->rank], MPI_FLOAT, all, cnt, disp, MPI_FLOAT, 0,
                               MPI_COMM_WORLD) == MPI_SUCCESS;
        free(cnt);
        free(disp);
        return ok;
    }
#else
    (void)m;
#endif
    if (counts[0] && local != all)
        memcpy(all, local, counts[0] * sizeof *all);
    return true;
}

bool cli_mpi_dp_gather(void *user, float *y, const size_t *counts, bool ok)
{
    const struct cli_mpi *m = user;
    if (!cli_mpi_all_ok(m, ok))
        return false;
    size_t at = 0; /* this rank's block */
    for (int r = 0; r < m->rank; r++)
        at += counts[r];
    return gather(m, y + at, counts, y);
}

bool cli_mpi_allreduce_sum(void *user, float *buf, size_t count, bool ok)
{
    struct cli_mpi *m = user;
#ifdef CLF_HAVE_MPI
    if (m->active) {
        const int n = m->size, me = m->rank;
        int *cnt = malloc((size_t)n * sizeof *cnt), *disp = malloc((size_t)n * sizeof *disp);
        int *rcnt = malloc((size_t)n * sizeof *rcnt), *rdisp = malloc((size_t)n * sizeof *rdisp);
        float *blocks = NULL;
        size_t first = 0, mine = 0;
        /* count is the same on every rank that has not failed */
        bool fits = ok && count <= INT_MAX;
        if (fits) {
            cli_shard(count, n, me, &first, &mine);
            blocks = malloc((mine ? mine : 1) * (size_t)n * sizeof *blocks);
        }
        if (!cli_mpi_all_ok(m, fits && cnt && disp && rcnt && rdisp && blocks)) {
            free(cnt), free(disp), free(rcnt), free(rdisp), free(blocks);
            return false;
        }
        for (int r = 0; r < n; r++) {
            size_t f, c;
            cli_shard(count, n, r, &f, &c);
            cnt[r] = (int)c, disp[r] = (int)f;
            rcnt[r] = (int)mine, rdisp[r] = r * (int)mine;
        }
        /* reduce-scatter: every rank's block `me` here, summed in rank order */
        bool done = MPI_Alltoallv(buf, cnt, disp, MPI_FLOAT, blocks, rcnt, rdisp, MPI_FLOAT,
                                  MPI_COMM_WORLD) == MPI_SUCCESS;
        for (size_t i = 0; done && i < mine; i++) {
            float s = blocks[i];
            for (int r = 1; r < n; r++)
                s += blocks[(size_t)r * mine + i];
            buf[first + i] = s;
        }
        done = done && MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, disp,
                                      MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS;
        m->sent += (double)(count - mine + mine * (size_t)(n - 1)) * sizeof(float);
        free(cnt), free(disp), free(rcnt), free(rdisp), free(blocks);
        return done;
    }
#endif
    (void)buf, (void)count;
    return cli_mpi_all_ok(m, ok);
}

/* The device type a bare spec names, or -1 when the spec is more specific. */
static int bare_type(const char *spec, const struct clf_device_info *list, size_t n)
{
    if (!strcasecmp(spec, "gpu"))
        return CLF_DEVICE_GPU;
    if (!strcasecmp(spec, "cpu"))
        return CLF_DEVICE_CPU;
    if (!strcasecmp(spec, "accelerator") || !strcasecmp(spec, "acc"))
        return CLF_DEVICE_ACCELERATOR;
    size_t i;
    if (!strcasecmp(spec, "auto") && clf_device_match("auto", list, n, &i, NULL, 0) == CLF_OK)
        return (int)list[i].type;
    return -1;
}

bool cli_mpi_device(const char *spec, int local_rank, char *buf, size_t size, char *msg,
                    size_t msg_size)
{
    if (!spec || !*spec)
        spec = getenv("CLFORMER_DEVICE");
    if (!spec || !*spec)
        spec = "auto";
    struct clf_device_info *list = NULL;
    size_t n = 0;
    if (clf_devices_query(&list, &n) != CLF_OK || !n) {
        snprintf(msg, msg_size, "no OpenCL device");
        clf_devices_free(list);
        return false;
    }
    int type = bare_type(spec, list, n);
    size_t of_type = 0;
    for (size_t i = 0; type >= 0 && i < n; i++)
        of_type += (int)list[i].type == type;
    if (type >= 0 && of_type) /* "gpu:K" etc.: clf_device_match's N-th of a type */
        snprintf(buf, size, "%s:%zu", clf_device_type_str((enum clf_device_type)type),
                 (size_t)local_rank % of_type);
    else
        snprintf(buf, size, "%s", spec);
    clf_devices_free(list);
    return true;
}
