#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rd_assert_close(double got, double want, double atol, double rtol, const char *what,
                     const char *file, int line)
{
    double tol = atol + rtol * fabs(want);
    if (!(fabs(got - want) <= tol)) {
        print_error("%s:%d: %s = %.9g, want %.9g (tol %.3g)\n", file, line, what, got, want, tol);
        _fail(file, line);
    }
}

const char *rd_test_data(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", RDROP_TEST_DATA, name);
    return buf;
}

char *rd_test_tmpfile(const char *suffix, const void *data, size_t len)
{
    char tmpl[256];
    snprintf(tmpl, sizeof tmpl, "/tmp/rdrop-test-XXXXXX%s", suffix ? suffix : "");
    int fd = mkstemps(tmpl, suffix ? (int)strlen(suffix) : 0);
    if (fd < 0) return NULL;
    if (len && write(fd, data, len) != (ssize_t)len) { close(fd); return NULL; }
    close(fd);
    return strdup(tmpl);
}
