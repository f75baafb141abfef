# -*- coding: utf-8 -*-
# Copyright: contributors to the hostnet.macvlan collection
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# PRIVATE: this file is internal to the hostnet.macvlan collection. It is not a public API and may change
# in any release without notice. Do not import it from other collections.

"""ICMP echo probes sent from inside a network namespace (standard library only).

The socket is created inside the namespace (setns, create, setns back), so the probe sees that namespace's
addresses and routes, not the host's: a macvlan child's view of the network.
"""

import contextlib
import errno
import ipaddress
import os
import select
import socket
import struct
import time

from ansible_collections.hostnet.macvlan.plugins.module_utils import _netns

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129
SO_BINDTODEVICE = 25


class ProbeError(Exception):
    """The probe could not be sent at all (bad address, missing namespace, no privileges)."""


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(version, ident, seq, payload):
    kind = ICMP_ECHO_REQUEST if version == 4 else ICMPV6_ECHO_REQUEST
    header = struct.pack("!BBHHH", kind, 0, 0, ident, seq)
    if version == 6:
        return header + payload  # the kernel fills in the ICMPv6 checksum
    return struct.pack("!BBHHH", kind, 0, checksum(header + payload), ident, seq) + payload


def parse_reply(version, packet, ident):
    """The sequence number of an echo reply for ``ident`` in ``packet``, else None."""
    if version == 4:
        if len(packet) < 20:
            return None
        packet = packet[(packet[0] & 0x0F) * 4 :]
    if len(packet) < 8:
        return None
    kind, dummy_code, dummy_sum, reply_ident, seq = struct.unpack("!BBHHH", packet[:8])
    if kind != (ICMP_ECHO_REPLY if version == 4 else ICMPV6_ECHO_REPLY) or reply_ident != ident:
        return None
    return seq


def _open_socket(version, netns, interface, source):
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    proto = socket.IPPROTO_ICMP if version == 4 else socket.IPPROTO_ICMPV6
    home = target = None
    try:
        if netns is not None:
            try:
                target = _netns.open_netns_fd(netns)
            except _netns.NetlinkFailure as exc:
                raise ProbeError(str(exc)) from None
            home = os.open("/proc/self/ns/net", os.O_RDONLY)
            try:
                _netns.setns(target)
            except OSError as exc:
                raise ProbeError("netns: cannot enter %r: %s (needs root)" % (netns, exc.strerror)) from None
        try:
            sock = socket.socket(family, socket.SOCK_RAW, proto)
        except PermissionError:
            raise ProbeError("sending ICMP echo requests needs root (CAP_NET_RAW); use become: true") from None
        finally:
            if home is not None:
                _netns.setns(home)
    finally:
        for fd in (home, target):
            if fd is not None:
                os.close(fd)
    try:
        if interface:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode() + b"\0")
        if source:
            sock.bind((source, 0))
    except OSError as exc:
        sock.close()
        raise ProbeError("cannot bind the probe to %s: %s" % (interface or source, exc.strerror)) from None
    return sock


def probe(dest, netns=None, count=3, timeout=1.0, interface=None, source=None):
    """Send ``count`` echo requests to ``dest`` from namespace ``netns``; return a result dict."""
    host, dummy_sep, scope = str(dest).partition("%")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ProbeError("dest: %r is not an IP address" % dest) from None
    if address.version == 6 and address.is_link_local and not (scope or interface):
        raise ProbeError("dest: %r is link-local; give the interface (interface option or dest%%IFNAME)" % dest)
    interface = interface or scope or None
    if source is not None:
        try:
            if ipaddress.ip_address(source).version != address.version:
                raise ProbeError("source: %r is not of the same address family as dest %s" % (source, dest))
        except ValueError:
            raise ProbeError("source: %r is not an IP address" % source) from None
    version = address.version
    ident = (os.getpid() ^ int(time.time() * 1000)) & 0xFFFF
    rtts = []
    sent = 0
    with contextlib.closing(_open_socket(version, netns, interface, source)) as sock:
        for seq in range(1, count + 1):
            payload = struct.pack("!d", time.monotonic()) + b"hostnet.macvlan"
            started = time.monotonic()
            try:
                sock.sendto(echo_request(version, ident, seq, payload), (str(address), 0))
            except OSError as exc:
                if exc.errno not in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL):
                    raise ProbeError("cannot send to %s: %s" % (dest, exc.strerror)) from None
                # No route, or the link is down: from this namespace the address is unreachable.
                sent += 1
                continue
            sent += 1
            deadline = started + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ready, dummy_w, dummy_x = select.select([sock], [], [], left)
                if not ready:
                    break
                packet, peer = sock.recvfrom(65535)
                if ipaddress.ip_address(peer[0].split("%")[0]).packed != address.packed:
                    continue
                if parse_reply(version, packet, ident) == seq:
                    rtts.append((time.monotonic() - started) * 1000.0)
                    break
    return {
        "dest": str(address),
        "netns": netns,
        "sent": sent,
        "received": len(rtts),
        "reachable": bool(rtts),
        "rtt_ms": round(sum(rtts) / len(rtts), 3) if rtts else None,
    }
