/* edgebert/dist.h - the process group of data-parallel training.
 *
 * Built with MPI (make MPI=1) and started by an MPI launcher (mpirun, mpiexec, srun), a
 * process joins the launcher's group in eb_dist_init; built without MPI, or started on its
 * own, it is a group of one and every collective below is a no-op.  The trainer takes the
 * group through eb_train_options.dist: each rank computes the gradients of its shard of
 * every global batch, the sums go round (eb_dist_allreduce_f32), rank 0 alone writes
 * checkpoints and logs.  Collectives must be called by every rank in the same order.  An
 * MPI failure ends the job (MPI's default error handler); the other errors are status codes. */
#ifndef EDGEBERT_DIST_H
#define EDGEBERT_DIST_H

#include <stddef.h>

#include "edgebert.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct eb_dist eb_dist;

/* 1 when the library was built with MPI. */
EB_API int eb_dist_mpi_built(void);
/* Join the launcher's group (MPI_Init_thread, funneled: only the calling thread talks MPI) or,
 * when no launcher started this process, make a group of one.  Built without MPI, a process that
 * a launcher started as one of several gets EB_ERR_UNSUPPORTED (the copies would each run the
 * whole job into the same output).  argc/argv may be NULL. */
EB_API eb_status eb_dist_init(int *argc, char ***argv, eb_dist **out, eb_error *err);
/* Leave the group (MPI_Finalize when eb_dist_init initialised MPI) and free it.  NULL is fine. */
EB_API void eb_dist_finalize(eb_dist *d);
/* This process's rank (0 for NULL) and the group's size (1 for NULL). */
EB_API int eb_dist_rank(const eb_dist *d);
EB_API int eb_dist_size(const eb_dist *d);
/* x[n] = the sum of every rank's x[n], in place. */
EB_API eb_status eb_dist_allreduce_f32(const eb_dist *d, float *x, size_t n, eb_error *err);
EB_API eb_status eb_dist_allreduce_f64(const eb_dist *d, double *x, size_t n, eb_error *err);
/* buf[bytes] of rank root to every rank. */
EB_API eb_status eb_dist_bcast(const eb_dist *d, void *buf, size_t bytes, int root, eb_error *err);

#ifdef __cplusplus
}
#endif

#endif
