"""Delivering DRP status callbacks, on a worker: one `DrpCallback` row per delivery, claimed,
retried with backoff and swept like all background work (casework.work).

The callback's address is the agent's to choose, so it is checked at delivery time against
server-side request forgery: https only; the host's addresses resolved once, each of them
public (no private, loopback, link-local, reserved or multicast address) unless
DRP_CALLBACK_ALLOW_PRIVATE is set; the connection goes to the address checked (no second
look-up that could answer otherwise), with the host name in the Host header and in TLS's SNI
and certificate check; redirects are not followed.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

from casework import work
from casework.models import DrpCallback

logger = logging.getLogger(__name__)

TASK = "deliver_drp_callback"
DEFAULT_PORTS = {"https": 443, "http": 80}


class AddressRefused(Exception):
    """The callback's address may not be called (scheme, credentials, or where it points)."""


class Transient(Exception):
    """A delivery that may succeed later (a timeout, a refused connection, 429, 5xx)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    address: str  # the checked IP address the connection goes to
    path: str


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(url: str, *, allow_private: bool | None = None) -> Target:
    """The checked target of a callback URL; raises AddressRefused, or Transient when the
    name does not resolve (now)."""
    allow_private = settings.DRP_CALLBACK_ALLOW_PRIVATE if allow_private is None else allow_private
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AddressRefused("malformed address") from None
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise AddressRefused("not https")
    if parts.username or parts.password or not parts.hostname:
        raise AddressRefused("no host, or credentials in the address")
    host = parts.hostname
    port = port or DEFAULT_PORTS[parts.scheme]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Transient("name does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise Transient("name does not resolve")
    if not allow_private and not all(_allowed(a) for a in addresses):
        raise AddressRefused("address not public")
    path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Target(parts.scheme, host, port, str(addresses[0]), path)


def post(target: Target, payload: dict, *, timeout: float | None = None) -> httpx.Response:
    """POST `payload` as JSON to the checked address; redirects are not followed."""
    literal = f"[{target.address}]" if ":" in target.address else target.address
    url = f"{target.scheme}://{literal}:{target.port}{target.path}"
    default = DEFAULT_PORTS[target.scheme] == target.port
    host_header = target.host if default else f"{target.host}:{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = timeout or settings.DRP_CALLBACK_TIMEOUT_SECONDS
    with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
        request = client.build_request(
            "POST",
            url,
            json=payload,
            headers={"Host": host_header, "User-Agent": "dsar-drp/1.0"},
            extensions=extensions,
        )
        return client.send(request)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


def deliver(callback_id: int) -> str:
    """Claim one callback row and deliver it: delivered, retried later, or failed."""
    callback = work.claim(DrpCallback, callback_id, select_related=("request",))
    if callback is None:
        return "not pending"
    bound = work.over_delivery_bound(callback, settings.DRP_CALLBACK_MAX_ATTEMPTS + 1)
    if bound:
        work.fail(callback, error=bound[:200])
        return "failed"
    try:
        target = resolve(callback.request.status_callback)
        response = post(target, callback.payload)
        if response.status_code == 429 or response.status_code >= 500:
            raise Transient(f"answered {response.status_code}", _retry_after(response))
    except AddressRefused as exc:
        logger.warning("DRP callback %s refused: %s", callback.pk, exc)
        work.fail(callback, exc=exc, error=f"refused: {exc}"[:200])
        return "failed"
    except (Transient, httpx.TransportError) as exc:
        retry_after = getattr(exc, "retry_after", None)
        delay = work.retry_later(
            callback,
            exc=exc,
            max_attempts=settings.DRP_CALLBACK_MAX_ATTEMPTS,
            task=TASK,
            retry_after=retry_after,
        )
        if delay is None:
            work.fail(callback, exc=exc, error="no answer after the retries")
            return "failed"
        logger.info("DRP callback %s: retry in %.0f s (%s)", callback.pk, delay, type(exc).__name__)
        return "retry"
    if 200 <= response.status_code < 300:
        work.complete(
            callback, state=DrpCallback.State.DELIVERED, response_status=response.status_code
        )
        return "delivered"
    # A redirect (not followed) or a 4xx: the receiver will not take it; a person looks.
    work.fail(
        callback,
        response_status=response.status_code,
        error=f"answered {response.status_code}",
    )
    return "failed"


def sweep() -> list[int]:
    """Beat: callbacks whose worker died or whose message was lost are queued again."""
    return work.sweep(DrpCallback, task=TASK)
