/* receiver: counts the frames of the sender that arrive, for the unplug-loss benchmark.
 *
 * usage: receiver NETNS_PATH IFNAME
 *
 * Reads the sender's frames on IFNAME (AF_PACKET) and marks each sequence number seen in a
 * bitmap, so frames that arrive twice (both NICs in the bridge for a moment) or out of order
 * (one path slower than the other) are counted once. Each line written to its standard input
 * closes a window and prints, for the sequence numbers from the first frame received after the
 * previous window to the highest received,
 *
 *   window <first> <last> <received> <lost> <longest-gap-in-frames> <duplicates>
 *
 * (a window starts at its first frame: the sender keeps counting while the bench sends the
 * traffic elsewhere). Prints "ready" once bound; exits when stdin closes. */
#include "traffic.h"
#include <poll.h>

#define WINDOW_BITS (1u << 24) /* 16 M frames: almost 3 minutes at 100,000 frames a second */

static unsigned char seen[WINDOW_BITS / 8];

static int is_seen(unsigned long long s) { return seen[(s % WINDOW_BITS) / 8] & (1 << (s % 8)); }

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: receiver NETNS_PATH IFNAME\n");
        return 2;
    }
    enter_netns(argv[1]);
    int ifindex;
    int fd = open_packet_socket(argv[2], &ifindex);
    int size = 64 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    printf("ready\n");
    fflush(stdout);

    /* top: the highest sequence number ever received; the window: from, highest, any. */
    unsigned long long top = 0, from = 0, highest = 0, duplicates = 0;
    int started = 0, any = 0;
    struct pollfd fds[2] = { { .fd = fd, .events = POLLIN }, { .fd = STDIN_FILENO, .events = POLLIN } };
    static char line[256];
    size_t linelen = 0;
    for (;;) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (fds[0].revents & POLLIN) {
            struct traffic_frame frame;
            ssize_t n;
            /* At most a batch before stdin is looked at again: a receiver short of CPU never
             * empties its socket at 100,000 frames a second, and the bench waits for its window.
             * (Frames still queued then count in the next window: it starts where this ends.) */
            int batch = 0;
            while (batch++ < 4096 && (n = recv(fd, &frame, sizeof frame, MSG_DONTWAIT)) > 0) {
                if ((size_t)n < sizeof frame || ntohs(frame.ethertype) != TRAFFIC_ETHERTYPE) continue;
                unsigned long long s = frame.sequence;
                if (!started || s > top) {
                    /* Moving forward: clear the bits the ring reuses for the numbers skipped. */
                    if (!started || s - top > WINDOW_BITS) memset(seen, 0, sizeof seen);
                    else for (unsigned long long c = top + 1; c < s; c++) seen[(c % WINDOW_BITS) / 8] &= ~(1 << (c % 8));
                    top = s;
                    started = 1;
                } else if (top - s >= WINDOW_BITS || is_seen(s)) {
                    duplicates++;
                    continue;
                }
                seen[(s % WINDOW_BITS) / 8] |= 1 << (s % 8);
                if (!any) { from = highest = s; any = 1; }
                else if (s < from) duplicates++; /* a late frame of a closed window */
                else if (s > highest) highest = s;
            }
        }
        if (fds[1].revents) {
            ssize_t n = read(STDIN_FILENO, line + linelen, sizeof line - linelen - 1);
            if (n <= 0) return 0;
            linelen += n;
            char *newline;
            while ((newline = memchr(line, '\n', linelen)) != NULL) {
                size_t used = newline - line + 1;
                memmove(line, line + used, linelen - used);
                linelen -= used;
                unsigned long long received = 0, lost = 0, longest = 0, run = 0;
                for (unsigned long long s = from; any && s <= highest; s++) {
                    if (is_seen(s)) { received++; run = 0; }
                    else { lost++; if (++run > longest) longest = run; }
                }
                printf("window %llu %llu %llu %llu %llu %llu\n", from, highest, received, lost, longest, duplicates);
                fflush(stdout);
                any = 0;
                duplicates = 0;
            }
        }
    }
}
