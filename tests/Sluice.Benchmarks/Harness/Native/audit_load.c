/* Benchmark load generator: audit_load MODE SECONDS RATE [PROGRAM]
 *   MODE getppid: calls getppid() in a loop (one audited event per call under a getppid rule).
 *   MODE exec:    posix_spawn()s PROGRAM (default /bin/true) and waits for it (one execve event).
 *   RATE > 0 paces the loop to about RATE operations per second; RATE 0 runs flat out.
 * Prints its pid, then waits for one line on stdin before starting, so that the caller can
 * install a rule naming this pid (-F pid= / -F ppid=) first. Runs for SECONDS, then prints
 * "done <operations> <elapsed seconds> <failures>". Operations that fail (a spawn that could not
 * start) are counted apart and are not operations. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_for(double seconds)
{
    struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: audit_load getppid|exec SECONDS RATE [PROGRAM]\n");
        return 2;
    }
    int exec_mode = strcmp(argv[1], "exec") == 0;
    if (!exec_mode && strcmp(argv[1], "getppid") != 0) {
        fprintf(stderr, "audit_load: unknown mode '%s' (getppid or exec)\n", argv[1]);
        return 2;
    }
    double seconds = atof(argv[2]);
    double rate = atof(argv[3]);
    const char *program = argc > 4 ? argv[4] : "/bin/true";
    if (seconds <= 0 || rate < 0) {
        fprintf(stderr, "audit_load: SECONDS must be > 0 and RATE >= 0\n");
        return 2;
    }

    printf("%d\n", (int)getpid());
    fflush(stdout);
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) {
        return 3; /* the caller went away before starting us */
    }

    /* getppid is cheap: look at the clock every 64 calls; a spawn is not: every time. */
    long check = exec_mode ? 1 : 64;
    long ops = 0, failures = 0;
    double start = now(), elapsed = 0;
    char *child_argv[] = { (char *)program, NULL };
    for (;;) {
        if (exec_mode) {
            pid_t pid;
            if (posix_spawn(&pid, program, NULL, NULL, child_argv, environ) == 0) {
                int status;
                waitpid(pid, &status, 0);
                ops++;
            } else {
                failures++;
            }
        } else {
            syscall(SYS_getppid);
            ops++;
        }
        if (ops % check == 0 || exec_mode) {
            elapsed = now() - start;
            if (elapsed >= seconds) {
                break;
            }
            if (rate > 0) {
                double ahead = ops / rate - elapsed;
                if (ahead > 0) {
                    sleep_for(ahead);
                }
            }
        }
    }
    printf("done %ld %.6f %ld\n", ops, now() - start, failures);
    fflush(stdout);
    return 0;
}
