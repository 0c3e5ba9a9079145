/* reactor: the least a program can do to switch a port, as a baseline for Replug's agent.
 *
 * usage: reactor NETNS_PATH ACTIVE STANDBY BRIDGE
 *
 * In the namespace it listens to the kernel's uevents. On the removal of ACTIVE it sends one
 * RTM_NEWLINK on a socket opened at start: STANDBY's IFLA_MASTER = BRIDGE. On the return of
 * ACTIVE (add) it reverts, as a revertive Replug port does: ACTIVE up and into BRIDGE, then
 * STANDBY released. Acknowledgements are read after the request is sent, off the timed path.
 * It runs at the normal priority, like the agent. Prints "ready" once it listens, one line per
 * failed request; exits when its standard input closes. */
#include "netlink.h"
#include <poll.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: reactor NETNS_PATH ACTIVE STANDBY BRIDGE\n");
        return 2;
    }
    const char *active = argv[2], *standby_name = argv[3], *bridge_name = argv[4];
    enter_netns(argv[1]);
    int standby = if_nametoindex(standby_name), bridge = if_nametoindex(bridge_name);
    if (!standby || !bridge) {
        fprintf(stderr, "reactor: no %s in the namespace\n", !standby ? standby_name : bridge_name);
        return 1;
    }
    int uevents = open_uevent_socket();
    int rtnl = open_rtnl_socket(0);
    printf("ready\n");
    fflush(stdout);

    struct pollfd fds[2] = { { .fd = uevents, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
    static char buf[1 << 16];
    unsigned seq = 0;
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (fds[1].revents) {
            if (read(STDIN_FILENO, buf, sizeof buf) <= 0) return 0;
        }
        if (!(fds[0].revents & POLLIN)) continue;
        ssize_t len = recv_kernel_uevent(uevents, buf, sizeof buf, 0);
        if (len <= 0) continue;
        const char *subsystem = uevent_field(buf, len, "SUBSYSTEM");
        const char *action = uevent_field(buf, len, "ACTION");
        const char *ifname = uevent_field(buf, len, "INTERFACE");
        if (!subsystem || !action || !ifname || strcmp(subsystem, "net") != 0 || strcmp(ifname, active) != 0) continue;

        int error = 0;
        if (strcmp(action, "remove") == 0) {
            error = send_set_master(rtnl, ++seq, standby, bridge, 0);
            if (!error) error = read_ack(rtnl);
        } else if (strcmp(action, "add") == 0) {
            const char *ifindex = uevent_field(buf, len, "IFINDEX");
            int index = ifindex ? atoi(ifindex) : (int)if_nametoindex(active);
            error = send_set_master(rtnl, ++seq, index, bridge, 1);
            if (!error) error = read_ack(rtnl);
            if (!error) error = send_set_master(rtnl, ++seq, standby, 0, 0);
            if (!error) error = read_ack(rtnl);
        } else {
            continue;
        }
        if (error) {
            printf("error %s %s: %s\n", action, ifname, strerror(-error));
            fflush(stdout);
        }
    }
}
