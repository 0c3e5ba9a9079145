#!/usr/bin/env python3
"""Captures real kernel uevents (netlink wire format) for the parser's test fixtures.

Run as root; it creates its own network namespace, runs each scenario inside it, and
removes everything it made:

    python3 capture.py OUTDIR

Each scenario is written to OUTDIR/<scenario>.bin as the concatenated raw messages, exactly
as recv() returned them ("ACTION@DEVPATH\\0KEY=VALUE\\0..."). A message starts at a NUL-
separated token that contains '@' before any '=' (a field's key never contains '@'; a
DEVPATH may contain both '@' and '=').
Only messages whose sender port id is 0 (the kernel) are kept.
"""
import os, select, socket, subprocess, sys, time

NETLINK_KOBJECT_UEVENT = 15
NS = "replug-capture-%d" % os.getpid()


def sh(cmd):
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True)
    if r.returncode != 0:
        print("  ! %s: %s" % (cmd, r.stderr.strip()), file=sys.stderr)
    return r.returncode


def write_uevent(dev, action):
    # Writing an action to a device's uevent file makes the kernel emit a (synthetic) uevent.
    try:
        with open("/sys/class/net/%s/uevent" % dev, "w") as f:
            f.write(action)
    except OSError as e:
        print("  ! %s > %s/uevent: %s" % (action, dev, e), file=sys.stderr)


def drain(sock, quiet=0.3):
    msgs = []
    while True:
        r, _, _ = select.select([sock], [], [], quiet)
        if not r:
            return msgs
        data, addr = sock.recvfrom(65536)
        if addr[0] == 0:
            msgs.append(data)


SCENARIOS = {
    "veth-lifecycle": [
        "ip link add rpv0 type veth peer name rpv1",
        "ip link set rpv0 up", "ip link set rpv1 up",
        "ip link set rpv0 down",
        "ip link del rpv0",
    ],
    # A rename is a "move" with DEVPATH_OLD.
    "rename-move": [
        "ip link add rpi0 type ifb",
        "ip link set rpi0 name rpi0renamed",
        "ip link set rpi0renamed name rpi0",
        "ip link del rpi0",
    ],
    "bridge": [
        "ip link add rpbr0 type bridge",
        "ip link add rpv2 type veth peer name rpv3",
        "ip link set rpv2 master rpbr0",
        "ip link set rpbr0 up", "ip link set rpv2 up",
        "ip link set rpv2 nomaster",
        "ip link del rpv2", "ip link del rpbr0",
    ],
    "macvlan-vxlan-tap": [
        "ip link add rpv4 type veth peer name rpv5",
        "ip link add link rpv4 name rpmv0 type macvlan mode bridge",
        "ip link add rpvx0 type vxlan id 42 dstport 4789",
        "ip tuntap add rptap0 mode tap",
        "ip link del rpmv0", "ip link del rpvx0", "ip link del rptap0", "ip link del rpv4",
    ],
    # Writing ACTION [UUID [KEY=VALUE...]] to a device's uevent file makes the kernel emit that
    # action (with SYNTH_UUID and SYNTH_ARG_ fields; the kernel accepts only alphanumeric
    # argument keys and values): every one of the eight actions, for real.
    "synthetic-actions": [
        "ip link add rpi2 type ifb",
        ("uevent", "rpi2", "add"),
        ("uevent", "rpi2", "change"),
        ("uevent", "rpi2", "online"),
        ("uevent", "rpi2", "offline"),
        ("uevent", "rpi2", "bind"),
        ("uevent", "rpi2", "unbind"),
        ("uevent", "rpi2", "move"),
        ("uevent", "rpi2", "remove"),
        ("uevent", "rpi2", "change 5a1e0f6e-2b7c-4f43-9a4e-3c8d1f2b6a70 ERROREVENT=BEGINRECOVERY DEVICEONLINE=0"),
        ("uevent", "rpi2", "change 5a1e0f6e-2b7c-4f43-9a4e-3c8d1f2b6a71 ERROREVENT=SUCCESSFULRECOVERY DEVICEONLINE=1"),
        "ip link del rpi2",
    ],
    # Interface names the kernel allows (anything but '/', ':' and whitespace) that stress a parser.
    "odd-names": [
        "ip link add 'rp=eq' type ifb",
        "ip link add 'rp@at' type ifb",
        "ip link add $'rp\\xc3\\xa9' type ifb",        # U+00E9
        "ip link add $'rp\\xe2\\x80\\xa8x' type ifb",  # U+2028 LINE SEPARATOR
        "ip link add $'rp\\xc2\\x85x' type ifb",       # U+0085 NEXT LINE
        "ip link del 'rp=eq'", "ip link del 'rp@at'", "ip link del $'rp\\xc3\\xa9'",
        "ip link del $'rp\\xe2\\x80\\xa8x'", "ip link del $'rp\\xc2\\x85x'",
    ],
    # A name that is not UTF-8: a real kernel message the parser rejects (InvalidUtf8).
    "invalid-utf8": [
        "ip link add $'rp\\xff' type ifb",
        "ip link del $'rp\\xff'",
    ],
}


def run_inside(outdir):
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((0, 1))
    sh("ip link set lo up")
    drain(sock)
    for name, steps in SCENARIOS.items():
        msgs = []
        for step in steps:
            if isinstance(step, tuple):
                write_uevent(step[1], step[2])
            else:
                sh(step)
            msgs += drain(sock, 0.15)
        msgs += drain(sock)
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            for m in msgs:
                f.write(m)
        actions = sorted({m.split(b"@", 1)[0].decode() for m in msgs})
        print("%-20s %3d messages  actions: %s" % (name, len(msgs), " ".join(actions)))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--inside":
        run_inside(sys.argv[2])
        return
    outdir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    os.makedirs(outdir, exist_ok=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", NS, sys.executable, os.path.abspath(__file__), "--inside", outdir], check=True)
    finally:
        subprocess.run(["ip", "netns", "del", NS])


if __name__ == "__main__":
    main()
