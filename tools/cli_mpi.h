/*
 * `clformer` under mpirun: a small wrapper over the few MPI calls the tool
 * makes. Built with MPI (-DCLF_HAVE_MPI), MPI is initialised only when the
 * process was started by an MPI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK in the environment): a plain `clformer` needs no MPI run-time
 * (Open MPI's singleton start spawns a helper daemon and may warn about the
 * network). Without MPI, or not under a launcher, there is one rank.
 */
#ifndef CLF_TOOLS_CLI_MPI_H
#define CLF_TOOLS_CLI_MPI_H

#include <stdbool.h>
#include <stddef.h>

struct cli_mpi {
    bool active;    /* MPI was initialised by cli_mpi_begin */
    int rank, size; /* in MPI_COMM_WORLD; 0 and 1 when not active */
    int local_rank; /* on this node (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCAL_RANK) */
};

/* Initialises MPI when launched by mpirun (see above); fills m. */
void cli_mpi_begin(struct cli_mpi *m);
/* Finalises MPI when cli_mpi_begin initialised it. */
void cli_mpi_end(struct cli_mpi *m);

/* Whether the process was started by an MPI launcher (environment only). */
bool cli_mpi_launched(void);

/* Whether every rank's ok is true (a logical AND over ranks; ok itself when
 * not active). Every rank must call it: a failed rank makes the others
 * skip the collective that would otherwise wait for it forever. */
bool cli_mpi_all_ok(const struct cli_mpi *m, bool ok);

/* Barrier over all ranks (nothing when not active). */
void cli_mpi_barrier(const struct cli_mpi *m);

/* Maximum of x over ranks, on every rank (x when not active). */
double cli_mpi_max(const struct cli_mpi *m, double x);

/* Rank r's share of n items: [*first, *first + *count), contiguous, sizes
 * differing by at most one (the first n % parts parts get one more). */
void cli_shard(size_t n, int parts, int r, size_t *first, size_t *count);

/* Gathers each rank's counts[rank] floats from local on rank 0 into all
 * (rank order; on other ranks all is not used; on rank 0 local may be all:
 * its share is then already in place, at the start). counts[r] is rank r's float
 * count, the same array on every rank; each must fit an int (MPI's count
 * type). false on an MPI error or a count over INT_MAX. Not active: copies. */
bool cli_mpi_gather(const struct cli_mpi *m, const float *local, const size_t *counts,
                    float *all);

/* Runs fn(arg, i) for i in [0, n) at the same time, one thread each (i = 0
 * on the calling thread), and returns when all have; false when a thread
 * could not be started (fn then ran on the calling thread instead). */
bool cli_parallel(int n, void (*fn)(void *arg, int i), void *arg);

/* The device spec for this rank: a bare type ("gpu", "cpu", "accelerator",
 * "acc") or "auto" (also the default NULL: $CLFORMER_DEVICE, else auto) is
 * turned into "TYPE:K" with K = local_rank mod the number of devices of
 * that type, so the ranks on a node spread over its devices; anything more
 * specific ("gpu:1", "0:1", a name) is kept. Written into buf (size bytes);
 * false with msg set when no device matches. */
bool cli_mpi_device(const char *spec, int local_rank, char *buf, size_t size, char *msg,
                    size_t msg_size);

#endif
