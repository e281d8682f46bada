/* canary_oob.c - a deliberate out-of-bounds heap read inside rdrop's own code (rd_data_gather
 * of sample 4 of a 4-sample set), the broken input of the negative controls of
 * tests/mpi/test_sanitize.sh and test_memcheck.sh: ASan and valgrind must both report it, or
 * their "no report" verdicts on the real runs mean nothing. Built with the tests; not a test. */
#include <stdio.h>

#include "data.h"

int main(void)
{
    rd_dataset d;
    rd_data_synthetic(&d, 4, 8, 2, 1, 0);   /* 4 samples x 8 bytes: one 32-byte block */
    uint32_t idx[1] = {4};                  /* one past the end */
    float x[8];
    rd_data_gather(&d, idx, 1, x, NULL);
    printf("canary read %g\n", (double)x[0]);
    rd_data_free(&d);
    return 0;
}
