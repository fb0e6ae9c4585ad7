/* Prints every size, offset and constant the Interop layer declares, as "name value" lines,
 * from the system headers, for InteropLayoutTests to compare. */
#include <linux/audit.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define P(name, v) printf("%s %lld\n", name, (long long)(v))
#define S(t) P("sizeof " #t, sizeof(struct t))
#define O(t, f) P("offsetof " #t "." #f, offsetof(struct t, f))
#define C(c) P(#c, c)

int main(void)
{
    S(sockaddr_nl); O(sockaddr_nl, nl_family); O(sockaddr_nl, nl_pad); O(sockaddr_nl, nl_pid); O(sockaddr_nl, nl_groups);
    S(nlmsghdr); O(nlmsghdr, nlmsg_len); O(nlmsghdr, nlmsg_type); O(nlmsghdr, nlmsg_flags); O(nlmsghdr, nlmsg_seq); O(nlmsghdr, nlmsg_pid);
    S(nlmsgerr); O(nlmsgerr, error); O(nlmsgerr, msg);
    S(audit_status); O(audit_status, mask); O(audit_status, enabled); O(audit_status, failure); O(audit_status, pid);
    O(audit_status, rate_limit); O(audit_status, backlog_limit); O(audit_status, lost); O(audit_status, backlog);
    O(audit_status, feature_bitmap); O(audit_status, backlog_wait_time); O(audit_status, backlog_wait_time_actual);
    S(audit_rule_data); O(audit_rule_data, flags); O(audit_rule_data, action); O(audit_rule_data, field_count);
    O(audit_rule_data, mask); O(audit_rule_data, fields); O(audit_rule_data, values); O(audit_rule_data, fieldflags);
    O(audit_rule_data, buflen);
    S(audit_features); O(audit_features, vers); O(audit_features, mask); O(audit_features, features); O(audit_features, lock);
    C(AUDIT_FEATURE_ONLY_UNSET_LOGINUID); C(AUDIT_FEATURE_LOGINUID_IMMUTABLE);
    C(AF_NETLINK); C(NETLINK_AUDIT); C(SOL_NETLINK); C(NETLINK_ADD_MEMBERSHIP); C(NETLINK_DROP_MEMBERSHIP); C(NETLINK_NO_ENOBUFS);
    C(NLM_F_REQUEST); C(NLM_F_MULTI); C(NLM_F_ACK); C(NLMSG_NOOP); C(NLMSG_ERROR); C(NLMSG_DONE); C(NLMSG_OVERRUN);
    C(NLMSG_ALIGNTO); C(NLMSG_HDRLEN); C(SO_MEMINFO); C(SK_MEMINFO_RMEM_ALLOC); C(SK_MEMINFO_RCVBUF); C(SK_MEMINFO_DROPS); C(SK_MEMINFO_VARS);
    /* message types the code sends or acts on: checked against the generated AuditMessageType */
    C(AUDIT_GET); C(AUDIT_SET); C(AUDIT_USER); C(AUDIT_SIGNAL_INFO); C(AUDIT_ADD_RULE); C(AUDIT_DEL_RULE); C(AUDIT_LIST_RULES);
    C(AUDIT_SET_FEATURE); C(AUDIT_GET_FEATURE); C(AUDIT_SYSCALL); C(AUDIT_PATH); C(AUDIT_SOCKADDR); C(AUDIT_CWD); C(AUDIT_EXECVE);
    C(AUDIT_EOE); C(AUDIT_BPRM_FCAPS); C(AUDIT_CAPSET); C(AUDIT_MMAP); C(AUDIT_PROCTITLE); C(AUDIT_REPLACE); C(AUDIT_KERNEL);
    C(AUDIT_WATCH_INS); C(AUDIT_FIRST_USER_MSG); C(AUDIT_LAST_USER_MSG); C(AUDIT_FIRST_USER_MSG2); C(AUDIT_LAST_USER_MSG2);
    C(AUDIT_NLGRP_READLOG);
    C(AUDIT_STATUS_ENABLED); C(AUDIT_STATUS_FAILURE); C(AUDIT_STATUS_PID); C(AUDIT_STATUS_RATE_LIMIT); C(AUDIT_STATUS_BACKLOG_LIMIT);
    C(AUDIT_STATUS_BACKLOG_WAIT_TIME); C(AUDIT_STATUS_LOST); C(AUDIT_STATUS_BACKLOG_WAIT_TIME_ACTUAL);
    C(AUDIT_FEATURE_BITMAP_BACKLOG_LIMIT); C(AUDIT_FEATURE_BITMAP_BACKLOG_WAIT_TIME); C(AUDIT_FEATURE_BITMAP_EXECUTABLE_PATH);
    C(AUDIT_FEATURE_BITMAP_EXCLUDE_EXTEND); C(AUDIT_FEATURE_BITMAP_SESSIONID_FILTER); C(AUDIT_FEATURE_BITMAP_LOST_RESET);
    C(AUDIT_FEATURE_BITMAP_FILTER_FS);
    C(AUDIT_BITMASK_SIZE); C(AUDIT_MAX_FIELDS); C(AUDIT_MAX_KEY_LEN);
    C(AUDIT_FILTER_USER); C(AUDIT_FILTER_TASK); C(AUDIT_FILTER_ENTRY); C(AUDIT_FILTER_WATCH); C(AUDIT_FILTER_EXIT);
    C(AUDIT_FILTER_EXCLUDE); C(AUDIT_FILTER_FS); C(AUDIT_FILTER_URING_EXIT);
    C(AUDIT_NEVER); C(AUDIT_POSSIBLE); C(AUDIT_ALWAYS); C(AUDIT_ARCH); C(AUDIT_FILTERKEY);
    C(AUDIT_EQUAL); C(AUDIT_NOT_EQUAL);
    C(AUDIT_ARCH_X86_64); C(AUDIT_ARCH_I386); C(AUDIT_ARCH_AARCH64);
    P("AUDIT_STATUS_SIZE", sizeof(struct audit_status)); P("AUDIT_RULE_DATA_SIZE", sizeof(struct audit_rule_data));
    return 0;
}
