/* Test helper: exec_argv SPECFILE
 * SPECFILE holds argument vectors, each as: u32 argc, then argc times (u32 length, bytes), little
 * endian. Arguments are arbitrary bytes (no NUL): spaces, newlines, invalid UTF-8, long ones.
 * For each vector, forks a child that execv()s argv[0] with exactly those arguments, waits for it,
 * and prints "<index> <pid> <exit status>" per child. Exits 1 on a malformed file or a failed fork. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char *data;
static size_t size, at;

static int read_u32(uint32_t *v)
{
    if (at + 4 > size)
        return 0;
    memcpy(v, data + at, 4);
    at += 4;
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: exec_argv SPECFILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(size + 1);
    if (fread(data, 1, size, f) != size) {
        perror("read");
        return 1;
    }
    fclose(f);
    for (int index = 0; at < size; index++) {
        uint32_t n;
        if (!read_u32(&n) || n == 0) {
            fprintf(stderr, "malformed spec at byte %zu\n", at);
            return 1;
        }
        char **args = calloc(n + 1, sizeof(char *));
        for (uint32_t i = 0; i < n; i++) {
            uint32_t len;
            if (!read_u32(&len) || at + len > size) {
                fprintf(stderr, "malformed spec at byte %zu\n", at);
                return 1;
            }
            args[i] = malloc(len + 1);
            memcpy(args[i], data + at, len);
            args[i][len] = 0;
            at += len;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            execv(args[0], args);
            _exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        printf("%d %d %d\n", index, (int)pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        for (uint32_t i = 0; i < n; i++)
            free(args[i]);
        free(args);
    }
    return 0;
}
