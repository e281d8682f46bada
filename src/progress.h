/* progress.h - what rank 0 shows while it works (docs/quickstart.md "Progress").
 *
 * On a terminal: ONE live line, redrawn in place ("\r" + text + erase-to-end) at most
 * every RD_PROGRESS_LIVE_S seconds: step/steps of the epoch, samples/s, ETA of the epoch
 * and of the run; start-up phases, evaluations and checkpoint writes show there too.
 * Elsewhere (a log file, a pipe): a plain "rdrop: ..." line when RD_PROGRESS_PLAIN_S
 * seconds of an epoch pass without one (none when training.log_every_steps > 0: the
 * trainer's own rows are then the cadence), and one line per start-up phase.
 * Nothing here writes metrics: the run's files are the same with and without a terminal.
 * Times are passed in (rd_now()), so the tests drive a fake clock.
 */
#ifndef RDROP_PROGRESS_H
#define RDROP_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "common.h"

#define RD_PROGRESS_LIVE_S 0.25   /* live line: at most 4 redraws a second */
#define RD_PROGRESS_PLAIN_S 30.0  /* plain lines: at least one every 30 s of an epoch */

typedef enum { RD_PROGRESS_OFF, RD_PROGRESS_PLAIN, RD_PROGRESS_LIVE } rd_progress_mode;

typedef struct {
    rd_progress_mode mode;
    FILE *out;
    double plain_every_s;    /* RD_PROGRESS_PLAIN_S, or 0 = no plain step lines */
    int64_t spe, total_steps, epochs;
    long batch;              /* samples per step (the global batch) */
    /* state */
    double t_last;           /* last line written (live or plain) */
    double t_run0;           /* first step seen by this process */
    int64_t step_run0;
    double t_epoch0;         /* start of the current epoch in this process */
    int64_t step_epoch0, epoch;
    int shown;               /* live: width of the text on screen (0 = none) */
    long lines;              /* live redraws + plain lines written (tests) */
} rd_progress;

/* True when rank 0's stdout reaches a terminal. Under Open MPI every rank's stdout is a
 * pseudo-terminal whatever mpirun's is, so there the answer is mpirun's stdout. */
bool rd_progress_stdout_is_terminal(void);

/* mode OFF for ranks other than 0. Phases can be shown from here on. */
void rd_progress_init(rd_progress *p, rd_progress_mode mode, FILE *out);

/* The run's shape, once known: steps per epoch, steps of the run, samples per step.
 * log_every_steps > 0 turns plain step lines off. */
void rd_progress_plan(rd_progress *p, int64_t spe, int64_t total_steps, long batch, long log_every_steps);

/* After step `step` (1-based count of completed steps) at time now: redraws or prints
 * when due. Cheap when not due (no output, no allocation). */
void rd_progress_step(rd_progress *p, int64_t step, double now);

/* A phase starts ("loading data", "evaluating"): live: shown at once; plain: printed as
 * "rdrop: TEXT" only when `plain` is set (start-up phases, not the per-epoch ones). */
void rd_progress_phase(rd_progress *p, bool plain, double now, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Erase the live line (before any other output on stdout or stderr). */
void rd_progress_clear(rd_progress *p);

/* The live line in use for this process (for log.c's notices), or NULL. */
void rd_progress_set_current(rd_progress *p);
void rd_progress_clear_current(void);

#endif
