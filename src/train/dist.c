/* dist.c - the process group of data-parallel training (include/edgebert/dist.h): MPI with
 * EB_MPI (make MPI=1), a group of one otherwise.  The group holds its own communicator (a
 * duplicate of MPI_COMM_WORLD), so the library's traffic never mixes with a caller's. */
#include <stdlib.h>

#include "edgebert/dist.h"
#include "util/util.h"

#ifdef EB_MPI
#include <mpi.h>
#endif

struct eb_dist {
    int rank, size;
    int we_initialised; /* eb_dist_init called MPI_Init_thread: finalize calls MPI_Finalize */
#ifdef EB_MPI
    MPI_Comm comm;
#endif
};

int eb_dist_mpi_built(void) {
#ifdef EB_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef EB_MPI
/* Started by an MPI launcher: Open MPI's mpirun, PMI/PMIx launchers (MPICH's hydra, srun). */
static int launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}
#else
/* The number of processes a launcher says it started (Open MPI, PMI), 1 if none says. */
static long launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        long n = v ? strtol(v, NULL, 10) : 0;
        if (n > 1) return n;
    }
    return 1;
}
#endif

eb_status eb_dist_init(int *argc, char ***argv, eb_dist **out, eb_error *err) {
    if (!out) return eb_fail(err, EB_ERR_ARG, "dist: no output");
    eb_dist *d = eb_calloc(NULL, 1, sizeof *d);
    if (!d) return eb_fail(err, EB_ERR_NOMEM, "dist: out of memory");
    d->rank = 0;
    d->size = 1;
#ifdef EB_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && launched()) {
        int provided = 0;
        if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            eb_free(NULL, d);
            return eb_fail(err, EB_ERR_IO, "dist: MPI_Init_thread failed");
        }
        d->we_initialised = inited = 1;
    }
    if (inited) {
        MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
        MPI_Comm_rank(d->comm, &d->rank);
        MPI_Comm_size(d->comm, &d->size);
    } else {
        d->comm = MPI_COMM_NULL;
    }
#else
    (void)argc, (void)argv;
    const long n = launched_size();
    if (n > 1) { /* N copies of one run would each write the same output */
        eb_free(NULL, d);
        return eb_fail(err, EB_ERR_UNSUPPORTED,
                       "dist: started as one of %ld processes by an MPI launcher, but built "
                       "without MPI: use the build of make MPI=1 (build-mpi/)",
                       n);
    }
#endif
    *out = d;
    return EB_OK;
}

void eb_dist_finalize(eb_dist *d) {
    if (!d) return;
#ifdef EB_MPI
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    if (d->we_initialised) MPI_Finalize();
#endif
    eb_free(NULL, d);
}

int eb_dist_rank(const eb_dist *d) {
    return d ? d->rank : 0;
}

int eb_dist_size(const eb_dist *d) {
    return d ? d->size : 1;
}

#ifdef EB_MPI
/* MPI counts are int: large buffers go in pieces. */
#define EB_DIST_CHUNK ((size_t)1 << 28)
static eb_status allreduce(const eb_dist *d, void *x, size_t n, size_t elsize, MPI_Datatype t,
                           eb_error *err) {
    char *p = x;
    for (size_t i = 0; i < n; i += EB_DIST_CHUNK) {
        const size_t k = n - i < EB_DIST_CHUNK ? n - i : EB_DIST_CHUNK;
        if (MPI_Allreduce(MPI_IN_PLACE, p + i * elsize, (int)k, t, MPI_SUM, d->comm) != MPI_SUCCESS)
            return eb_fail(err, EB_ERR_IO, "dist: MPI_Allreduce failed");
    }
    return EB_OK;
}
#endif

eb_status eb_dist_allreduce_f32(const eb_dist *d, float *x, size_t n, eb_error *err) {
    if (!d || d->size == 1 || n == 0) return EB_OK;
#ifdef EB_MPI
    return allreduce(d, x, n, sizeof(float), MPI_FLOAT, err);
#else
    return eb_fail(err, EB_ERR_UNSUPPORTED, "dist: built without MPI");
#endif
}

eb_status eb_dist_allreduce_f64(const eb_dist *d, double *x, size_t n, eb_error *err) {
    if (!d || d->size == 1 || n == 0) return EB_OK;
#ifdef EB_MPI
    return allreduce(d, x, n, sizeof(double), MPI_DOUBLE, err);
#else
    return eb_fail(err, EB_ERR_UNSUPPORTED, "dist: built without MPI");
#endif
}

eb_status eb_dist_bcast(const eb_dist *d, void *buf, size_t bytes, int root, eb_error *err) {
    if (!d || d->size == 1 || bytes == 0) return EB_OK;
    if (root < 0 || root >= d->size)
        return eb_fail(err, EB_ERR_ARG, "dist: broadcast root %d outside 0..%d", root, d->size - 1);
#ifdef EB_MPI
    char *p = buf;
    for (size_t i = 0; i < bytes; i += EB_DIST_CHUNK) {
        const size_t k = bytes - i < EB_DIST_CHUNK ? bytes - i : EB_DIST_CHUNK;
        if (MPI_Bcast(p + i, (int)k, MPI_BYTE, root, d->comm) != MPI_SUCCESS)
            return eb_fail(err, EB_ERR_IO, "dist: MPI_Bcast failed");
    }
    return EB_OK;
#else
    return eb_fail(err, EB_ERR_UNSUPPORTED, "dist: built without MPI");
#endif
}
