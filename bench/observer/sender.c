/* sender: frames with sequence numbers at a fixed rate, for the unplug-loss benchmark.
 *
 * usage: sender NETNS_PATH IFNAME RATE
 *
 * Writes RATE frames a second on IFNAME (AF_PACKET) until its standard input closes. The pacer
 * keeps the average rate: frame N is due at start + N / RATE; it sleeps (nanosleep, 1 ns timer
 * slack) when the next frame is far enough away and spins when it is close, and sends every
 * frame that is due at once after it was descheduled (late, never dropped: the receiver
 * counts loss by sequence number, so a sender's stall is not mistaken for an outage).
 * Prints "ready" once the socket is bound, and "sent N" when it stops. */
#include "traffic.h"
#include <poll.h>
#include <sys/prctl.h>

int main(int argc, char **argv)
{
    if (argc != 4 || atof(argv[3]) <= 0) {
        fprintf(stderr, "usage: sender NETNS_PATH IFNAME RATE (frames a second)\n");
        return 2;
    }
    enter_netns(argv[1]);
    double rate = atof(argv[3]);
    int ifindex;
    int fd = open_packet_socket(argv[2], &ifindex);
    prctl(PR_SET_TIMERSLACK, 1UL);

    struct traffic_frame frame;
    memset(&frame, 0, sizeof frame);
    /* A locally administered unicast no bridge has learned: flooded to every port, never up to a host stack. */
    memcpy(frame.destination, "\x02\x00\x00\x00\x00\x01", 6);
    memcpy(frame.source, "\x02\x00\x00\x00\x00\x02", 6);
    frame.ethertype = htons(TRAFFIC_ETHERTYPE);
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
    memcpy(to.sll_addr, frame.destination, 6);

    printf("ready\n");
    fflush(stdout);
    struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
    long long start = monotonic_ns(), interval = (long long)(1e9 / rate);
    unsigned long long sent = 0, failed = 0;
    long long next_check = start;
    for (;;) {
        long long now = monotonic_ns();
        if (now >= next_check) {
            /* Stdin closed (or anything written to it): stop. Checked every 10 ms. */
            char c;
            if (poll(&in, 1, 0) > 0 && read(STDIN_FILENO, &c, 1) <= 0) break;
            next_check = now + 10000000;
        }
        long long due = start + (long long)sent * interval;
        if (due > now) {
            if (due - now > 60000) {
                struct timespec nap = { 0, due - now - 50000 };
                nanosleep(&nap, NULL);
            }
            continue;
        }
        frame.sequence = sent;
        if (sendto(fd, &frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) < 0) failed++;
        sent++;
    }
    printf("sent %llu failed %llu\n", sent, failed);
    return 0;
}
