/* doctor.h - `rdrop doctor [CONFIG]`: measure this machine, its network and its run folder
 * before a long job, and predict the job's step and epoch time (docs/blas.md).
 *
 * One line per check on rank 0, "ok       ..." or "problem  ...". Checks: the OpenBLAS kernel
 * against this CPU's class (src/blas.h); sgemm GF/s against a peak estimate; ranks x BLAS
 * threads against each node's cores and the ranks' CPU binding; allreduce time and bandwidth
 * at sizes up to dist.bucket_mb and the slowest pair of nodes; the run folder's write+fsync
 * throughput and free space against the checkpoint size x (keep + 1); the versions.
 */
#ifndef RDROP_DOCTOR_H
#define RDROP_DOCTOR_H

#include "config.h"
#include "dist.h"

/* Peak single-precision GF/s of one core: FMA units x float lanes x 2 x GHz, with the lanes
 * of the kernel class (2: 16, AVX-512; 1: 8, AVX2; 0: 4, SSE, whose add and multiply units
 * count as two) and 2 units assumed; GHz from /proc/cpuinfo ("cpu MHz", else the "@ x.xxGHz"
 * of the model name). 0 when the clock is unknown. `how` (may be NULL) gets the formula. */
double rd_doctor_peak_gflops(int kernel_class, char *how, size_t how_len);

/* Every rank calls it. c may be NULL (no prediction; the run folder is the current one).
 * Returns 0 when every check is ok, 1 when one is a problem, 2 when it could not run. */
int rd_doctor_run(const rd_config *c, rd_dist *d);

#endif
