/* test_progress.c - rank 0's progress output (docs/quickstart.md "Progress"): the live line's
 * rate limit on a terminal, the plain lines' cadence elsewhere, phases, clearing. A fake
 * clock drives rd_progress; the output goes to a memory stream.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

typedef struct {
    char *text;
    size_t len;
    FILE *f;
} capture;

static void cap_open(capture *c)
{
    memset(c, 0, sizeof *c);
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
}

static void cap_close(capture *c)
{
    fclose(c->f);
    free(c->text);
}

static int count_char(const char *s, size_t n, char ch)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += s[i] == ch;
    return k;
}

/* 2,000 steps of 10 ms over 2 epochs: the line is redrawn at most every 0.25 s (>= 25 steps
 * apart), yet keeps up (about 4 a second), never with a newline. */
static void test_live_rate_limit(void **state)
{
    capture c;
    cap_open(&c);
    rd_progress p;
    rd_progress_init(&p, RD_PROGRESS_LIVE, c.f);
    rd_progress_plan(&p, 1000, 2000, 128, 0);
    for (int64_t s = 1; s <= 2000; s++) rd_progress_step(&p, s, 100.0 + 0.01 * (double)s);
    fflush(c.f);
    assert_int_equal(count_char(c.text, c.len, '\n'), 0);
    int draws = count_char(c.text, c.len, '\r');
    assert_int_equal(draws, (int)p.lines);
    assert_true(draws <= 20 * 4 + 1);
    assert_true(draws >= 20 * 3.5);
    /* consecutive draws: global step numbers at least 25 apart */
    long prev = -1000;
    for (const char *q = strchr(c.text, '\r'); q; q = strchr(q + 1, '\r')) {
        long ep, nep, st, spe;
        assert_int_equal(sscanf(q + 1, "epoch %ld/%ld  step %ld/%ld", &ep, &nep, &st, &spe), 4);
        assert_int_equal(nep, 2);
        assert_int_equal(spe, 1000);
        long global = (ep - 1) * spe + st;
        assert_true(global - prev >= 25);
        prev = global;
    }
    /* the rate and the two ETAs are there once two steps are known */
    assert_non_null(strstr(c.text, "samples/s  ETA "));
    assert_non_null(strstr(c.text, " (epoch), "));
    cap_close(&c);
}

/* The figures: samples/s and the epoch's ETA from the epoch so far, the run's ETA from
 * everything this process ran (evaluations and checkpoints included). */
static void test_live_rates(void **state)
{
    capture c;
    cap_open(&c);
    rd_progress p;
    rd_progress_init(&p, RD_PROGRESS_LIVE, c.f);
    rd_progress_plan(&p, 1000, 2000, 100, 0);
    rd_progress_step(&p, 1, 0.0);
    rd_progress_step(&p, 501, 5.0);
    rd_progress_step(&p, 1001, 12.0);   /* 2 s of evaluation before it: new epoch, no rate yet */
    rd_progress_step(&p, 1501, 17.0);
    fflush(c.f);
    char want[512];
    /* each text is padded with spaces over the longest one before it (72 columns) */
    snprintf(want, sizeof want, "\repoch 1/2  step 1/1000"
             "\repoch 1/2  step 501/1000  10000 samples/s  ETA 5.0s (epoch), 15.0s (run)"
             "\repoch 2/2  step 1/1000%50s"
             "\repoch 2/2  step 501/1000  10000 samples/s  ETA 5.0s (epoch), 5.7s (run) ", "");
    assert_string_equal(c.text, want);
    cap_close(&c);
}

/* Steps of 1/64 s: without a terminal a plain line comes once 30 s of the epoch have passed
 * since the last one, and the interval restarts with each epoch (its row was just printed). */
static void test_plain_cadence(void **state)
{
    capture c;
    cap_open(&c);
    rd_progress p;
    rd_progress_init(&p, RD_PROGRESS_PLAIN, c.f);
    const double dt = 1.0 / 64.0;
    rd_progress_plan(&p, 6400, 12800, 64, 0);   /* epochs of 100 s */
    for (int64_t s = 1; s <= 12800; s++) rd_progress_step(&p, s, (double)s * dt);
    fflush(c.f);
    assert_int_equal(count_char(c.text, c.len, '\r'), 0);
    assert_int_equal(count_char(c.text, c.len, '\n'), 6);   /* 30, 60, 90 s into each epoch */
    long steps[6];
    int n = 0;
    for (const char *q = c.text; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : NULL) {
        long ep, nep, st, spe;
        assert_int_equal(sscanf(q, "rdrop: epoch %ld/%ld  step %ld/%ld", &ep, &nep, &st, &spe), 4);
        steps[n++] = (ep - 1) * spe + st;
    }
    assert_int_equal(n, 6);
    /* epoch starts at steps 1 and 6401: 30 s later is 1920 steps later */
    const long want[6] = {1921, 3841, 5761, 6401 + 1920, 6401 + 3840, 6401 + 5760};
    for (int i = 0; i < 6; i++) assert_int_equal(steps[i], want[i]);
    assert_non_null(strstr(c.text, "4096 samples/s"));
    cap_close(&c);
}

/* training.log_every_steps > 0: the trainer's rows are the cadence, no extra plain lines;
 * OFF (ranks > 0) prints nothing at all. */
static void test_plain_off_with_log_every_and_off_mode(void **state)
{
    capture c;
    cap_open(&c);
    rd_progress p;
    rd_progress_init(&p, RD_PROGRESS_PLAIN, c.f);
    rd_progress_plan(&p, 6400, 6400, 64, 50);
    for (int64_t s = 1; s <= 6400; s++) rd_progress_step(&p, s, (double)s);
    rd_progress_phase(&p, false, 7000.0, "evaluating");
    rd_progress_init(&p, RD_PROGRESS_OFF, c.f);
    rd_progress_plan(&p, 10, 100, 64, 0);
    rd_progress_phase(&p, true, 0.0, "loading");
    for (int64_t s = 1; s <= 100; s++) rd_progress_step(&p, s, 100.0 * (double)s);
    fflush(c.f);
    assert_int_equal((int)c.len, 0);
    cap_close(&c);
}

/* Phases: plain mode prints only start-up phases, as "rdrop: TEXT"; live mode draws them
 * with "..."; clear() wipes the live line (spaces over its width) and is idempotent. */
static void test_phases_and_clear(void **state)
{
    capture c;
    cap_open(&c);
    rd_progress p;
    rd_progress_init(&p, RD_PROGRESS_PLAIN, c.f);
    rd_progress_phase(&p, true, 1.0, "loading %s", "data");
    rd_progress_phase(&p, false, 2.0, "evaluating");
    fflush(c.f);
    assert_string_equal(c.text, "rdrop: loading data\n");
    cap_close(&c);

    cap_open(&c);
    rd_progress_init(&p, RD_PROGRESS_LIVE, c.f);
    rd_progress_phase(&p, true, 1.0, "loading");
    rd_progress_phase(&p, false, 1.1, "building");      /* within 0.25 s of a draw: skipped */
    rd_progress_phase(&p, false, 1.5, "evaluating");
    rd_progress_clear(&p);
    rd_progress_clear(&p);
    rd_progress_phase(&p, false, 1.6, "writing");       /* nothing shown: drawn at once */
    fflush(c.f);
    assert_string_equal(c.text, "\rloading...\revaluating...\r" "             " "\r\rwriting...");
    cap_close(&c);
}

/* A line longer than the terminal's usual 80 columns is cut (it would wrap, and "\r"
 * returns to its last row only). */
static void test_live_width(void **state)
{
    capture c;
    cap_open(&c);
    rd_progress p;
    rd_progress_init(&p, RD_PROGRESS_LIVE, c.f);
    char longtext[200];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    rd_progress_phase(&p, true, 1.0, "%s", longtext);
    fflush(c.f);
    assert_int_equal((int)c.len, 1 + 79);
    cap_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_rate_limit),
        cmocka_unit_test(test_live_rates),
        cmocka_unit_test(test_plain_cadence),
        cmocka_unit_test(test_plain_off_with_log_every_and_off_mode),
        cmocka_unit_test(test_phases_and_clear),
        cmocka_unit_test(test_live_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
