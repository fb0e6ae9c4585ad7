/* Test and benchmark helper: syscall_burst N [RATE]
 * Calls getppid() N times; with RATE > 0, paced at about RATE calls per second.
 * Call i passes i as its (ignored) first argument, so its SYSCALL record carries a0=<i in hex>:
 * a marker that tells which call an event came from.
 * Prints its pid first, then "done <calls> <seconds>" when finished. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    double rate = argc > 2 ? atof(argv[2]) : 0;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    double start = now();
    for (long i = 0; i < n; i++) {
        syscall(SYS_getppid, i);
        if (rate > 0 && (i % 64) == 63) {
            double ahead = (i + 1) / rate - (now() - start);
            if (ahead > 0) {
                struct timespec ts = { (time_t)ahead, (long)((ahead - (time_t)ahead) * 1e9) };
                nanosleep(&ts, NULL);
            }
        }
    }
    printf("done %ld %.3f\n", n, now() - start);
    return 0;
}
