/* observer: sees a switch the way a user does, from outside the process that makes it.
 *
 * usage: observer NETNS_PATH...
 *
 * For each network namespace given (numbered from 0 in argument order) it opens the kernel's
 * uevent socket and an rtnetlink socket on RTMGRP_LINK, and prints one line per event, stamped
 * with CLOCK_MONOTONIC (ns) when recv returned:
 *
 *   ready fifo | ready refused <reason>          once every socket listens
 *   <ns> <ns-time> uevent <action> <ifname> <seqnum>   a kernel uevent of subsystem net
 *   <ns> <ns-time> link new|del <ifname> <ifindex> <master-ifindex|0> <up 0|1> <family>
 *                                        (family 7, AF_BRIDGE: the bridge's own view of a port)
 *
 * It runs SCHED_FIFO (and locks its memory), so that its own wake-up is not part of the figure
 * on a busy machine; "ready refused" says the scheduler refused it (then it runs as it is). It
 * exits when its standard input closes, so it never outlives the bench that reads it. */
#include "netlink.h"
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/mman.h>

#define MAX_NAMESPACES 32

static char out[1 << 16];
static size_t outlen;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void flush_out(void);

static void emit(const char *fmt, ...)
{
    if (sizeof out - outlen < 512) flush_out(); /* a burst never loses a line */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + outlen, sizeof out - outlen, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof out - outlen) outlen += n;
}

static void flush_out(void)
{
    for (size_t done = 0; done < outlen;) {
        ssize_t n = write(STDOUT_FILENO, out + done, outlen - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            exit(0); /* the reader is gone */
        }
        done += n;
    }
    outlen = 0;
}

static void print_uevent(int ns, long long at, const char *buf, size_t len)
{
    const char *subsystem = uevent_field(buf, len, "SUBSYSTEM");
    const char *action = uevent_field(buf, len, "ACTION");
    const char *ifname = uevent_field(buf, len, "INTERFACE");
    const char *seqnum = uevent_field(buf, len, "SEQNUM");
    /* Only net devices themselves: their queues have SUBSYSTEM=queues and no INTERFACE. */
    if (!subsystem || strcmp(subsystem, "net") != 0 || !action || !ifname) return;
    emit("%d %lld uevent %s %s %s\n", ns, at, action, ifname, seqnum ? seqnum : "0");
}

static void print_links(int ns, long long at, char *buf, size_t len)
{
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len); nh = NLMSG_NEXT(nh, len)) {
        if (nh->nlmsg_type != RTM_NEWLINK && nh->nlmsg_type != RTM_DELLINK) continue;
        struct ifinfomsg *ifi = NLMSG_DATA(nh);
        const char *ifname = "?";
        int master = 0;
        int attrlen = IFLA_PAYLOAD(nh);
        for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, attrlen); rta = RTA_NEXT(rta, attrlen)) {
            if (rta->rta_type == IFLA_IFNAME) ifname = RTA_DATA(rta);
            else if (rta->rta_type == IFLA_MASTER) master = *(int *)RTA_DATA(rta);
        }
        emit("%d %lld link %s %s %d %d %d %d\n", ns, at, nh->nlmsg_type == RTM_NEWLINK ? "new" : "del",
             ifname, ifi->ifi_index, master, (ifi->ifi_flags & IFF_UP) ? 1 : 0, ifi->ifi_family);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc - 1 > MAX_NAMESPACES) {
        fprintf(stderr, "usage: observer NETNS_PATH... (1 to %d)\n", MAX_NAMESPACES);
        return 2;
    }
    int namespaces = argc - 1;

    /* Scheduling first: a refusal is reported, not fatal. */
    struct sched_param param = { .sched_priority = 50 };
    const char *refused = NULL;
    if (sched_setscheduler(0, SCHED_FIFO, &param) < 0) refused = strerror(errno);
    mlockall(MCL_CURRENT | MCL_FUTURE);

    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) die("/proc/self/ns/net");
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) die("epoll_create1");
    for (int ns = 0; ns < namespaces; ns++) {
        enter_netns(argv[ns + 1]);
        int fds[2] = { open_uevent_socket(), open_rtnl_socket(RTMGRP_LINK) };
        for (int kind = 0; kind < 2; kind++) {
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = ((unsigned long long)fds[kind] << 32) | (ns << 1) | kind };
            if (epoll_ctl(epoll, EPOLL_CTL_ADD, fds[kind], &ev) < 0) die("epoll_ctl");
        }
    }
    if (setns(home, CLONE_NEWNET) < 0) die("setns(home)");
    struct epoll_event in = { .events = EPOLLIN | EPOLLHUP, .data.u64 = ~0ULL };
    epoll_ctl(epoll, EPOLL_CTL_ADD, STDIN_FILENO, &in); /* fails harmlessly if stdin is a file */

    if (refused) emit("ready refused %s\n", refused);
    else emit("ready fifo\n");
    flush_out();

    static char buf[1 << 16];
    for (;;) {
        struct epoll_event events[16];
        int n = epoll_wait(epoll, events, 16, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.u64 == ~0ULL) {
                if (read(STDIN_FILENO, buf, sizeof buf) <= 0) return 0;
                continue;
            }
            int fd = (int)(events[i].data.u64 >> 32);
            int ns = (int)(events[i].data.u64 & 0xffffffff) >> 1;
            int kind = (int)(events[i].data.u64 & 1);
            /* Read the socket empty, each message stamped as it is taken. */
            for (;;) {
                ssize_t len;
                if (kind == 0) {
                    len = recv_kernel_uevent(fd, buf, sizeof buf, MSG_DONTWAIT);
                    long long at = monotonic_ns();
                    if (len > 0) print_uevent(ns, at, buf, len);
                } else {
                    len = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
                    long long at = monotonic_ns();
                    if (len > 0) print_links(ns, at, buf, len);
                }
                if (len < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                    if (errno == ENOBUFS) { emit("%d %lld overflow\n", ns, monotonic_ns()); continue; }
                    die("recv");
                }
            }
        }
        flush_out();
    }
}
