/* sender: frames with sequence numbers at a fixed rate, for the unplug-loss benchmark.
 *
 * usage: sender NETNS_PATH IFNAME RATE
 *
 * Writes RATE frames a second on IFNAME (AF_PACKET) until its standard input closes. Frame N
 * is due at start + N / RATE. The pacer sleeps to an absolute time (clock_nanosleep, 1 ns timer
 * slack), at least 50 us at a time, and then sends every frame that is due: at 100,000 frames a
 * second that is bursts of about five, each frame at most ~50 us late.
 *
 * It runs SCHED_FIFO (below the observer): a sender that the reactors' work could preempt
 * would send nothing during an outage and then catch up once the path is back, and the frames
 * it should have lost would arrive late instead. Sleeping between bursts keeps it from taking
 * a core. Prints "ready fifo" (or "ready refused <reason>") once bound, "sent N" when it stops. */
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
    struct sched_param param = { .sched_priority = 40 };
    const char *refused = sched_setscheduler(0, SCHED_FIFO, &param) < 0 ? strerror(errno) : NULL;

    struct traffic_frame frame;
    memset(&frame, 0, sizeof frame);
    /* A locally administered unicast no bridge has learned: flooded to every port, never up to a host stack. */
    memcpy(frame.destination, "\x02\x00\x00\x00\x00\x01", 6);
    memcpy(frame.source, "\x02\x00\x00\x00\x00\x02", 6);
    frame.ethertype = htons(TRAFFIC_ETHERTYPE);
    struct sockaddr_ll to = { .sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6 };
    memcpy(to.sll_addr, frame.destination, 6);

    if (refused) printf("ready refused %s\n", refused);
    else printf("ready fifo\n");
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
        /* Every frame that is due now, then sleep to the next one (50 us at least). */
        while (start + (long long)sent * interval <= now) {
            frame.sequence = sent;
            if (sendto(fd, &frame, sizeof frame, 0, (struct sockaddr *)&to, sizeof to) < 0) failed++;
            sent++;
        }
        long long wake = start + (long long)sent * interval;
        if (wake < now + 50000) wake = now + 50000;
        struct timespec until = { wake / 1000000000LL, wake % 1000000000LL };
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    }
    printf("sent %llu failed %llu\n", sent, failed);
    return 0;
}
