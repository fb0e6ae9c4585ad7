/* Test helper: syscall_burst N -> calls getppid() N times as fast as it can, prints its pid. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    printf("%d\n", (int)getpid());
    fflush(stdout);
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return 0;
}
