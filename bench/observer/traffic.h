/* The frame the unplug-loss programs exchange: a raw Ethernet frame of a local experimental
 * EtherType carrying a sequence number, padded to the 60-byte minimum. */
#ifndef REPLUG_BENCH_TRAFFIC_H
#define REPLUG_BENCH_TRAFFIC_H

#include "netlink.h"
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#define TRAFFIC_ETHERTYPE 0x88B5 /* IEEE 802 local experimental EtherType 1 */

struct traffic_frame {
    unsigned char destination[6];
    unsigned char source[6];
    unsigned short ethertype;
    unsigned long long sequence; /* host order: sender and receiver share the machine */
    unsigned char padding[60 - 14 - 8];
} __attribute__((packed));

/* An AF_PACKET socket bound to IFNAME (in the current namespace) for our EtherType only. */
static inline int open_packet_socket(const char *ifname, int *ifindex)
{
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(TRAFFIC_ETHERTYPE));
    if (fd < 0) die("socket(AF_PACKET)");
    *ifindex = if_nametoindex(ifname);
    if (!*ifindex) die(ifname);
    struct sockaddr_ll addr = { .sll_family = AF_PACKET, .sll_protocol = htons(TRAFFIC_ETHERTYPE), .sll_ifindex = *ifindex };
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind(AF_PACKET)");
    return fd;
}

#endif
