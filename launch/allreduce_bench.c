/* allreduce_bench.c - time MPI_Iallreduce(MPI_IN_PLACE, float, SUM) + MPI_Wait the way rdrop's
 * gradient buckets use it, for a list of message sizes; the data launch/model.py fits its
 * alpha-beta allreduce model to. Each size: 3 warm-up rounds, then REPS timed rounds, each
 * started after a barrier; a round's time is the slowest rank's; prints the median per size.
 * With MPI_IN_PLACE Open MPI 4.1's libnbc runs a binomial reduce + broadcast unless
 * --mca coll_libnbc_iallreduce_algorithm 1 (ring) is given.
 *
 * usage: mpirun ... allreduce_bench [--reps N] BYTES...
 * Output: one JSON object per size: {"ranks":P,"bytes":B,"ms":median,"min_ms":...,"max_ms":...}
 * Built by CMake with the trainer (launch/build.sh): build/launch/allreduce_bench. launch/scale.sh
 * passes the byte sizes of the trainer's buckets (rd_step_buckets, from stepbench's output).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, p;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &p);
    int reps = 10;
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--reps")) { reps = atoi(argv[2]); first = 3; }
    if (reps < 1) reps = 1;
    size_t maxb = 4;
    for (int i = first; i < argc; i++) { size_t b = strtoull(argv[i], NULL, 10); if (b > maxb) maxb = b; }
    float *buf = malloc(maxb + 4);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!buf || !t) { fprintf(stderr, "allreduce_bench: out of memory\n"); MPI_Abort(MPI_COMM_WORLD, 1); }
    for (size_t i = 0; i < maxb / 4 + 1; i++) buf[i] = 1e-3f * (float)(i % 1000);
    for (int i = first; i < argc; i++) {
        int count = (int)(strtoull(argv[i], NULL, 10) / 4);
        if (count < 1) count = 1;
        for (int r = -3; r < reps; r++) {
            MPI_Request req;
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Iallreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
            MPI_Wait(&req, MPI_STATUS_IGNORE);
            double dt = MPI_Wtime() - t0, worst;
            MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (r >= 0) t[r] = worst;
            for (int k = 0; k < count; k++) buf[k] *= 1.0f / (float)p;   /* keep values bounded */
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_d);
        double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
        if (rank == 0)
            printf("{\"ranks\":%d,\"bytes\":%zu,\"ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"reps\":%d}\n", p,
                   (size_t)count * 4, med * 1e3, t[0] * 1e3, t[reps - 1] * 1e3, reps);
        fflush(stdout);
    }
    free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
