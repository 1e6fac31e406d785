/* bench_sparse - dense (OpenBLAS sgemm via eb_matmul) against the bitmask
 * sparse kernels (fp32 and AF8 payloads) for ALBERT-base shapes, over weight
 * densities 10..100 %.  Prints a markdown table and the crossover density per
 * shape (linear interpolation of the time ratio between measured points).
 *
 *   bench_sparse [-r REPS] [-t THREADS] [-q] [-n N1,N2,...]
 *
 * Defaults: 7 repetitions (the best is kept), 1 thread for both BLAS and
 * OpenMP so the comparison is per core, N = 16, 32, 64, 128 tokens; -q runs
 * N = 16 and 128 only; -n gives other token counts. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "edgebert/quant.h"
#include "kernels/kernels.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static float unif(uint64_t *s) {
    return (float)((rng(s) >> 40) * (1.0 / 16777216.0));
}

enum { KIND_DENSE, KIND_F32, KIND_AF8 };

static double time_one(int kind, float *y, const float *x, const float *wd, const eb_bitmask *bm,
                       const float *bias, int N, int C, int OC, float *scratch, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        if (kind == KIND_DENSE)
            eb_matmul(y, x, wd, bias, N, C, OC);
        else
            eb_sparse_matmul(y, x, bm, bias, N, scratch, NULL, NULL);
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    int reps = 7, threads = 1, quick = 0, Ns_user[16], nlist = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-q"))
            quick = 1;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            char *p = argv[++i];
            nlist = 0;
            while (*p && nlist < 16) {
                Ns_user[nlist++] = (int)strtol(p, &p, 10);
                if (*p == ',')
                    p++;
                else if (*p)
                    break;
            }
        } else {
            fprintf(stderr, "usage: bench_sparse [-r REPS] [-t THREADS] [-q]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (threads < 1) threads = 1;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    const int shapes[][2] = {{768, 768}, {768, 3072}, {3072, 768}}; /* C, OC */
    const int Ns_all[] = {16, 32, 64, 128}, Ns_quick[] = {16, 128};
    const int *Ns = nlist > 0 ? Ns_user : quick ? Ns_quick : Ns_all;
    int nN = nlist > 0 ? nlist : quick ? 2 : 4;
    for (int i = 0; i < nN; i++)
        if (Ns[i] < 1 || Ns[i] > 4096) {
            fprintf(stderr, "bench_sparse: bad token count %d\n", Ns[i]);
            return 2;
        }
    uint64_t s = 12345;
    printf("threads %d, best of %d\n\n", threads, reps);
    printf("| C x OC | N | density | dense ms | sparse f32 ms | dense/f32 | sparse af8 ms | "
           "dense/af8 |\n|---|---|---|---|---|---|---|---|\n");
    char summary[64][160];
    int ns = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        int C = shapes[si][0], OC = shapes[si][1];
        float *w = malloc(sizeof(float) * C * OC), *wp = malloc(sizeof(float) * C * OC);
        float *bias = malloc(sizeof(float) * OC);
        for (int i = 0; i < C * OC; i++)
            w[i] = (unif(&s) * 2 - 1) * 0.1f;
        for (int i = 0; i < OC; i++)
            bias[i] = unif(&s) - 0.5f;
        float *rnd = malloc(sizeof(float) * C * OC);
        for (int i = 0; i < C * OC; i++)
            rnd[i] = unif(&s);
        for (int ni = 0; ni < nN; ni++) {
            int N = Ns[ni];
            float *x = malloc(sizeof(float) * N * C), *y = malloc(sizeof(float) * N * OC);
            float *scratch = malloc(sizeof(float) * eb_sparse_scratch(N, C));
            for (int i = 0; i < N * C; i++)
                x[i] = unif(&s) * 2 - 1;
            double td = time_one(KIND_DENSE, y, x, w, NULL, bias, N, C, OC, scratch, reps);
            double prev_d = 0, prev_r = 0, cross_f = -1, cross_a = -1, prev_ra = 0;
            for (int dpct = 10; dpct <= 100; dpct += 10) {
                double d = dpct / 100.0;
                for (int i = 0; i < C * OC; i++)
                    wp[i] = rnd[i] < d ? w[i] : 0.0f;
                eb_bitmask bf, ba;
                if (eb_bitmask_encode_f32(&bf, wp, OC, C, NULL, NULL) ||
                    eb_bitmask_encode_af8(&ba, wp, OC, C, -1, EB_AF8_NEAREST, NULL, NULL)) {
                    fprintf(stderr, "bench_sparse: encode failed\n");
                    return 1;
                }
                double dens = eb_bitmask_density(&bf);
                double tf = time_one(KIND_F32, y, x, NULL, &bf, bias, N, C, OC, scratch, reps);
                double ta = time_one(KIND_AF8, y, x, NULL, &ba, bias, N, C, OC, scratch, reps);
                double rf = td / tf, ra = td / ta;
                printf("| %d x %d | %d | %.2f | %.3f | %.3f | %.2f | %.3f | %.2f |\n", C, OC, N,
                       dens, td * 1e3, tf * 1e3, rf, ta * 1e3, ra);
                /* crossover: first density where the ratio drops below 1 */
                if (cross_f < 0 && rf < 1)
                    cross_f = dpct == 10 ? 0 : prev_d + (d - prev_d) * (prev_r - 1) / (prev_r - rf);
                if (cross_a < 0 && ra < 1)
                    cross_a =
                        dpct == 10 ? 0 : prev_d + (d - prev_d) * (prev_ra - 1) / (prev_ra - ra);
                prev_d = d, prev_r = rf, prev_ra = ra;
                eb_bitmask_free(&bf);
                eb_bitmask_free(&ba);
            }
            if (ns < 64)
                snprintf(summary[ns++], sizeof summary[0],
                         "| %d x %d | %d | %s%.0f %% | %s%.0f %% |", C, OC, N,
                         cross_f < 0 ? ">" : "", cross_f < 0 ? 100 : cross_f * 100,
                         cross_a < 0 ? ">" : "", cross_a < 0 ? 100 : cross_a * 100);
            free(x), free(y), free(scratch);
        }
        free(w), free(wp), free(bias), free(rnd);
    }
    printf("\nCrossover density (sparse faster below it)\n\n| C x OC | N | fp32 | af8 |\n"
           "|---|---|---|---|\n");
    for (int i = 0; i < ns; i++)
        printf("%s\n", summary[i]);
    return 0;
}
