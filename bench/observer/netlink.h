/* Netlink helpers shared by the bench's C programs (observer, reactor): enter a network
 * namespace, open the kernel's uevent socket and an rtnetlink socket, read a uevent's fields,
 * and set a link's bridge master over rtnetlink. Header-only: each program is one gcc call. */
#ifndef REPLUG_BENCH_NETLINK_H
#define REPLUG_BENCH_NETLINK_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(1);
}

/* Moves this thread into the network namespace at PATH (/run/netns/NAME): sockets opened
 * afterwards belong to it, and keep belonging to it whatever namespace the thread moves to. */
static inline void enter_netns(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path);
    if (setns(fd, CLONE_NEWNET) < 0) die("setns");
    close(fd);
}

/* The kernel's uevent multicast group 1 in the current namespace. The buffer is forced large
 * (SO_RCVBUFFORCE, root) so that a burst never drops the one event being timed. */
static inline int open_uevent_socket(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (fd < 0) die("socket(NETLINK_KOBJECT_UEVENT)");
    int size = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = 1 };
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind(uevent)");
    return fd;
}

/* An rtnetlink socket; groups = RTMGRP_LINK to hear link changes, 0 to send requests only. */
static inline int open_rtnl_socket(unsigned groups)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) die("socket(NETLINK_ROUTE)");
    int size = 8 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = groups };
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind(rtnetlink)");
    return fd;
}

/* The value of KEY in a uevent ("ACTION@DEVPATH\0KEY=VALUE\0..."), or NULL. */
static inline const char *uevent_field(const char *buf, size_t len, const char *key)
{
    size_t keylen = strlen(key);
    for (size_t i = strnlen(buf, len) + 1; i < len; i += strnlen(buf + i, len - i) + 1)
        if (strncmp(buf + i, key, keylen) == 0 && buf[i + keylen] == '=') return buf + i + keylen + 1;
    return NULL;
}

/* Receives one uevent sent by the kernel (sender port id 0; a root process can multicast to
 * the group too) into buf, NUL-terminated; returns its length, 0 for one to ignore, -1 on error. */
static inline ssize_t recv_kernel_uevent(int fd, char *buf, size_t size, int flags)
{
    struct sockaddr_nl from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, buf, size - 1, flags, (struct sockaddr *)&from, &fromlen);
    if (n < 0) return -1;
    buf[n] = 0;
    return from.nl_pid == 0 ? n : 0;
}

/* One RTM_NEWLINK for IFINDEX: IFLA_MASTER = master (0 releases it from its bridge), and the
 * link set up when up != 0. Asks for an acknowledgement, which the caller reads later with
 * read_ack, off the timed path. */
static inline int send_set_master(int fd, unsigned seq, int ifindex, int master, int up)
{
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
        struct rtattr rta;
        int master;
    } req;
    memset(&req, 0, sizeof req);
    req.nh.nlmsg_len = sizeof req;
    req.nh.nlmsg_type = RTM_NEWLINK;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.nh.nlmsg_seq = seq;
    req.ifi.ifi_family = AF_UNSPEC;
    req.ifi.ifi_index = ifindex;
    if (up) {
        req.ifi.ifi_flags = IFF_UP;
        req.ifi.ifi_change = IFF_UP;
    }
    req.rta.rta_type = IFLA_MASTER;
    req.rta.rta_len = RTA_LENGTH(sizeof(int));
    req.master = master;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    return sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0 ? -errno : 0;
}

/* Reads one acknowledgement: 0, or the kernel's negative errno. */
static inline int read_ack(int fd)
{
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) return -errno;
    struct nlmsghdr *nh = (struct nlmsghdr *)buf;
    if (!NLMSG_OK(nh, (size_t)n) || nh->nlmsg_type != NLMSG_ERROR) return -EPROTO;
    return ((struct nlmsgerr *)NLMSG_DATA(nh))->error;
}

#endif
