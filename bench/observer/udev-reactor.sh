#!/bin/sh
# udev-reactor: the switch as a udev rule, run by a systemd-udevd of the namespace under test.
#
# usage: ip netns exec NS sh udev-reactor.sh UDEVD ACTIVE STANDBY BRIDGE
#
# Net device uevents reach only netlink sockets of the device's namespace, so udevd runs in it.
# `ip netns exec` gives this shell a mount namespace of its own (slave to the host's, with the
# namespace's /sys): the tmpfs mounts below hide the host's udev state and rules from this
# udevd and vanish with it. The rules are the operator's one-liner and its revert. Prints
# "ready" once udevd answers on its control socket; stops udevd when stdin closes.
set -eu
udevd=$1 active=$2 standby=$3 bridge=$4

mkdir -p /run/udev
mount -t tmpfs -o mode=0755 replug-bench-udev /run/udev
mkdir -p /run/udev/rules.d
for dir in /etc/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
    if [ -d "$dir" ]; then mount -t tmpfs -o mode=0755 replug-bench-rules "$dir"; fi
done
ip=$(command -v ip)
cat > /run/udev/rules.d/90-replug-bench.rules <<RULES
ACTION=="remove", SUBSYSTEM=="net", KERNEL=="$active", RUN+="$ip link set $standby master $bridge"
ACTION=="add", SUBSYSTEM=="net", KERNEL=="$active", RUN+="$ip link set $active up master $bridge", RUN+="$ip link set $standby nomaster"
RULES

"$udevd" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
# Ready when its control socket answers (it listens on netlink before it opens that socket).
tries=0
until udevadm control --ping >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ $tries -gt 500 ] || ! kill -0 $pid 2>/dev/null; then echo "udevd did not start" >&2; exit 1; fi
    sleep 0.01
done
echo ready
# Until the bench closes stdin.
cat >/dev/null
