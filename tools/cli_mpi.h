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
#include <stdint.h>

struct cli_mpi {
    bool active;    /* MPI was initialised by cli_mpi_begin */
    int rank, size; /* in MPI_COMM_WORLD; 0 and 1 when not active */
    int local_rank; /* on this node (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCAL_RANK) */
    double sent;    /* bytes this rank sent in cli_mpi_allreduce_sum so far */
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

/* Whether every rank passed the same hash (a min and a max over ranks; true
 * when not active). Callers hash what must agree, e.g. the input: files
 * read on different nodes, or mpirun's MPMD form with other arguments, can
 * give ranks different data, which sharding would mix and tensor
 * parallelism would feed into one sum. Every rank must call it. */
bool cli_mpi_same(const struct cli_mpi *m, uint64_t hash);

/* Barrier over all ranks (nothing when not active). */
void cli_mpi_barrier(const struct cli_mpi *m);

/* A barrier that does not spin: a rank that arrives early sleeps in 1 ms
 * steps (Open MPI's blocking calls poll a core, which a rank still working
 * on a shared machine would lose). */
void cli_mpi_barrier_idle(const struct cli_mpi *m);

/* Maximum of x over ranks, on every rank (x when not active). */
double cli_mpi_max(const struct cli_mpi *m, double x);

/* Rank r's share of n items: [*first, *first + *count), contiguous, sizes
 * differing by at most one (the first n % parts parts get one more). */
void cli_shard(size_t n, int parts, int r, size_t *first, size_t *count);

/* clf_dp_comm's gather over MPI_COMM_WORLD (user: the struct cli_mpi):
 * a logical AND of every rank's ok (false on every rank when one failed),
 * then MPI_Gatherv of every rank's block of y (counts[r] floats, rank
 * order) into rank 0's y, rank 0's own block in place. Not active: y
 * already holds everything. */
bool cli_mpi_dp_gather(void *user, float *y, const size_t *counts, bool ok);

/* clf_tp_comm's all-reduce over MPI_COMM_WORLD (user: the struct cli_mpi):
 * first a logical AND of every rank's ok (false on every rank when one
 * failed), then a reduce-scatter and an all-gather: rank r receives block
 * r of every rank's buf (cli_shard's blocks of count), adds them in rank
 * order 0, 1, ..., N-1, and the sums are gathered into every rank's buf.
 * The result is thus the same bits on every rank, and the same as a
 * device group's host all-reduce (clf_encoder_tp_create), which adds in
 * that order too. Each rank sends 2·(N-1)/N·count floats (a ring's
 * volume), counted in m->sent. Not active: buf is already the sum. */
bool cli_mpi_allreduce_sum(void *user, float *buf, size_t count, bool ok);

/* The device spec for this rank: a bare type ("gpu", "cpu", "accelerator",
 * "acc") or "auto" (also the default NULL: $CLFORMER_DEVICE, else auto) is
 * turned into "TYPE:K" with K = local_rank mod the number of devices of
 * that type, so the ranks on a node spread over its devices; anything more
 * specific ("gpu:1", "0:1", a name) is kept. Written into buf (size bytes);
 * false with msg set when no device matches. */
bool cli_mpi_device(const char *spec, int local_rank, char *buf, size_t size, char *msg,
                    size_t msg_size);

#endif
