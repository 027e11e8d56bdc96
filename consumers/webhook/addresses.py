"""Which IP addresses a webhook may connect to: public ones, plus what the operator allows.

An endpoint's host name is resolved once per POST; every answer is checked here and
the connection goes to a checked address (never to the name again, so a DNS answer
that changes between the check and the connect, "DNS rebinding", cannot steer it).

Refused unless ``WEBHOOK_ALLOWED_NETWORKS`` lists a CIDR holding the address:

- loopback: in Lambda the runtime API listens there (``AWS_LAMBDA_RUNTIME_API``,
  https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html);
- link-local: the instance metadata service is ``169.254.169.254``
  (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html);
- private (RFC 1918, ``fc00::/7`` which holds the IPv6 metadata address
  ``fd00:ec2::254``, site-local): a function attached to a VPC reaches them;
- unspecified, multicast, reserved, and anything else not globally routable
  (shared address space ``100.64.0.0/10``, documentation ranges).

An IPv6 address that carries an IPv4 address (IPv4-mapped ``::ffff:0:0/96``, 6to4
``2002::/16``, NAT64 ``64:ff9b::/96``, which a VPC's NAT gateway translates:
https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-nat64-dns64.html) is
judged by that IPv4 address.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_NETWORKS_VARIABLE: Final = "WEBHOOK_ALLOWED_NETWORKS"
# RFC 6052's well-known prefix: the last 32 bits are the IPv4 address.
NAT64_PREFIX: Final = ipaddress.IPv6Network("64:ff9b::/96")


class RefusedAddressError(Exception):
    """An endpoint's host resolves to no address the webhook may connect to."""


@dataclass(frozen=True, slots=True)
class Address:
    """One answer of the resolver: what ``socket.connect`` takes."""

    family: socket.AddressFamily
    sockaddr: tuple[Any, ...]

    @property
    def ip(self) -> IPAddress:
        """The address itself (an IPv6 scope id, ``%eth0``, is dropped)."""
        return ipaddress.ip_address(str(self.sockaddr[0]).split("%", 1)[0])


class Resolver(Protocol):
    """Turns a host name into the addresses to try, in order."""

    def __call__(self, host: str, port: int) -> Sequence[Address]:
        """Every TCP address of ``host``; ``OSError`` when it cannot be resolved."""
        ...


def resolve(host: str, port: int) -> list[Address]:
    """The system resolver's TCP answers for ``host`` (a literal IP resolves to itself)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [Address(family, sockaddr) for family, _, _, _, sockaddr in answers]


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, NAT64), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64_PREFIX:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_class(address: IPAddress) -> str | None:
    """Why ``address`` is refused (its class), or None for a globally routable unicast address."""
    address = embedded_ipv4(address)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private or getattr(address, "is_site_local", False)),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, refused in checks if refused), None)


def parse_networks(value: object) -> tuple[IPNetwork, ...]:
    """CIDRs (``10.0.0.0/8``, ``127.0.0.1``, ``::1/128``) from a list or a comma-separated string.

    Raises ``ValueError`` for anything that is not a network (host bits set included:
    ``10.0.0.1/8`` is more likely a typo than a wish to allow all of 10/8).
    """
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise TypeError("expected CIDRs, comma-separated")
    networks: list[IPNetwork] = []
    for item in items:
        if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(item)
        elif str(item).strip():
            networks.append(ipaddress.ip_network(str(item).strip(), strict=True))
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Public addresses, plus those in ``allowed`` (the operator's exceptions)."""

    allowed: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """None when the webhook may connect to ``address``, else the class that refuses it."""
        candidates = {address, embedded_ipv4(address)}
        if any(a in network for a in candidates for network in self.allowed):
            return None
        return address_class(address)

    def permitted(self, answers: Sequence[Address]) -> list[Address]:
        """The answers the webhook may connect to, in order.

        Raises ``RefusedAddressError`` naming the refused classes (not the addresses:
        the reason lands in the DLQ's message attributes) when none is permitted.
        """
        allowed = [a for a in answers if self.refusal(a.ip) is None]
        if allowed:
            return allowed
        classes = sorted({self.refusal(a.ip) or "" for a in answers} - {""})
        raise RefusedAddressError(
            f"the host resolves only to refused addresses ({', '.join(classes) or 'none'}); "
            f"allow a network explicitly with {ALLOWED_NETWORKS_VARIABLE}"
        )
