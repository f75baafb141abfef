"""ICMP packet building and parsing (pure)."""

from __future__ import annotations

import struct

from ansible_collections.hostnet.macvlan.plugins.module_utils import _probe


def test_checksum_of_a_valid_packet_is_zero():
    packet = _probe.echo_request(4, 0x1234, 7, b"payload!")
    assert _probe.checksum(packet) == 0
    assert packet[0] == 8 and struct.unpack("!HH", packet[4:8]) == (0x1234, 7)


def test_checksum_odd_length():
    assert _probe.checksum(b"\x01") == (~0x0100 & 0xFFFF)


def test_parse_ipv4_reply_skips_the_ip_header():
    icmp = struct.pack("!BBHHH", 0, 0, 0, 0x1234, 5) + b"x"
    ip_header = bytes([0x45]) + bytes(19)
    assert _probe.parse_reply(4, ip_header + icmp, 0x1234) == 5
    assert _probe.parse_reply(4, ip_header + icmp, 0x9999) is None
    request = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 5)
    assert _probe.parse_reply(4, ip_header + request, 0x1234) is None


def test_parse_ipv6_reply():
    icmp = struct.pack("!BBHHH", 129, 0, 0, 0x42, 3)
    assert _probe.parse_reply(6, icmp, 0x42) == 3
    assert _probe.parse_reply(6, icmp[:4], 0x42) is None
