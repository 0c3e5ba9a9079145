"""script-reactor: what an operator might write in an afternoon, as a baseline for Replug.

usage: python3 script-reactor.py ACTIVE STANDBY BRIDGE   (run inside the namespace: ip netns exec)

Reads the kernel's uevents on a netlink socket; on the removal of ACTIVE runs
`ip link set STANDBY master BRIDGE`, on its return reverts (ACTIVE up into BRIDGE, STANDBY
released), each as a subprocess. Prints "ready" once it listens; exits when stdin closes.
"""
import os
import select
import socket
import subprocess
import sys

NETLINK_KOBJECT_UEVENT = 15


def fields(message):
    # "ACTION@DEVPATH\0KEY=VALUE\0..."
    return dict(part.split(b"=", 1) for part in message.split(b"\0")[1:] if b"=" in part)


def main():
    if len(sys.argv) != 4:
        print("usage: script-reactor.py ACTIVE STANDBY BRIDGE", file=sys.stderr)
        return 2
    active, standby, bridge = sys.argv[1:]
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((0, 1))
    print("ready", flush=True)
    while True:
        readable, _, _ = select.select([sock, sys.stdin], [], [])
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 4096):
            return 0
        if sock not in readable:
            continue
        message, (sender, _) = sock.recvfrom(65536)
        if sender != 0:  # only the kernel's
            continue
        event = fields(message)
        if event.get(b"SUBSYSTEM") != b"net" or event.get(b"INTERFACE") != active.encode():
            continue
        action = event.get(b"ACTION")
        if action == b"remove":
            commands = [["ip", "link", "set", standby, "master", bridge]]
        elif action == b"add":
            commands = [["ip", "link", "set", active, "up", "master", bridge], ["ip", "link", "set", standby, "nomaster"]]
        else:
            continue
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                print(f"error {' '.join(command)}: {done.stderr.strip()}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
