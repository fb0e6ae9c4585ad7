/* Test helper: a second audit consumer candidate.
 *   audit_holder claim  -> registers itself as consumer, prints "claimed <pid>" (or
 *                          "error <errno>"), holds it until stdin closes, then unregisters.
 *   audit_holder try    -> one claim attempt, prints "claimed <pid>" or "error <errno>", exits.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int set_pid(int fd, unsigned pid)
{
    struct { struct nlmsghdr h; struct audit_status s; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.s);
    req.h.nlmsg_type = AUDIT_SET;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    req.s.mask = AUDIT_STATUS_PID;
    req.s.pid = pid;
    struct sockaddr_nl dst = { .nl_family = AF_NETLINK };
    if (sendto(fd, &req, req.h.nlmsg_len, 0, (struct sockaddr *)&dst, sizeof dst) < 0)
        return -errno;
    char buf[9216];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0)
            return -errno;
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == 1)
            return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
}

int main(int argc, char **argv)
{
    int hold = argc > 1 && strcmp(argv[1], "claim") == 0;
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
    if (fd < 0) { printf("error %d\n", errno); return 1; }
    int rc = set_pid(fd, (unsigned)getpid());
    if (rc < 0) { printf("error %d\n", -rc); fflush(stdout); return 2; }
    printf("claimed %d\n", (int)getpid());
    fflush(stdout);
    if (hold) {
        char c;
        while (read(0, &c, 1) > 0) { }
    }
    set_pid(fd, 0);
    return 0;
}
