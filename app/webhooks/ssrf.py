"""The SSRF guard: a webhook may only reach public addresses.

The host is resolved and every address it resolves to must be globally routable: loopback, private,
link-local, multicast, reserved, unspecified, shared (CGNAT) and cloud metadata addresses are refused,
also when embedded in IPv6 (IPv4-mapped, 6to4, NAT64, Teredo). The check runs when a webhook is created
and again before every attempt (DNS answers change); the attempt then connects to the address that was
checked, so a second, different DNS answer cannot slip through (no DNS rebinding).

``MISYNC_WEBHOOK_ALLOW_PRIVATE_URLS=true`` turns the guard off (tests and the embedded local run).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Instance metadata services (AWS, GCP, Azure, Oracle: 169.254.169.254; AWS IPv6; Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data"})
NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: How long resolving a host may take.
RESOLVE_TIMEOUT_S = 5.0


class Refused(Exception):
    """The URL may not be called; ``reason`` says why (safe to show to the school)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: its host name, port and the address to connect to."""

    host: str
    port: int
    address: IPAddress


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """What kind of non-public address ``ip`` is ("a loopback address"...), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            reason = address_refusal(embedded)
            return None if reason is None else f"{reason} embedded in IPv6 ({embedded})"
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for flag, what in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    ):
        if flag:
            return f"{'an' if what[0] in 'aeiou' else 'a'} {what} address"
    return None


def split(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an http(s) URL, parsed as httpx will send it (IDN hosts in their
    ASCII form); Refused when it is not one."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise Refused("the URL contains spaces or control characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:
        raise Refused(f"the URL is malformed ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise Refused("the URL must start with http:// or https://")
    host = parsed.raw_host.decode("ascii").rstrip(".").lower()
    if not host:
        raise Refused("the URL has no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise Refused("the URL's port is out of range")
    return parsed.scheme, host, parsed.port or (443 if parsed.scheme == "https" else 80)


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise Refused(f"the host {host!r} does not resolve") from exc
    out: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # Strip an IPv6 zone ("fe80::1%eth0"); such addresses are link-local and refused anyway.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise Refused(f"the host {host!r} does not resolve")
    return out


async def check(url: str) -> Target:
    """Resolve the URL's host and check every address; Refused naming the reason otherwise."""
    _scheme, host, port = split(url)
    if host in METADATA_HOSTS:
        raise Refused(f"{host} is a cloud metadata host")
    addresses = await resolve(host, port)
    literal = len(addresses) == 1 and _is_literal(host)
    for ip in addresses:
        reason = address_refusal(ip)
        if reason is not None:
            raise Refused(f"{host} is {reason}" if literal else f"{host} resolves to {ip}, {reason}")
    return Target(host=host, port=port, address=addresses[0])
