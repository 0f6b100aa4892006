"""The latency proxy of the end-to-end benchmark.

One listener per stand-in (the GitHub emulator, the git smart-HTTP server, moto, the OIDC
issuer). Every HTTP request is held for a fixed delay before it is forwarded, as if the server
were that far away, and logged: which server, what operation, when it arrived at the proxy and
when the last byte of its answer left it. With `connect_delay`, a new connection costs the delay
once more before its first request is read (a TCP handshake).

The proxy speaks plain HTTP/1.1 and relays bytes as they come (keep-alive, Content-Length,
chunked and read-until-close bodies), so a 20 MB tree listing or a git pack streams through
instead of being buffered. It runs in its own thread with its own event loop; `Proxy.log`
is read by the harness between runs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

CHUNK = 64 * 1024

# A handler answers a request itself (used for the OIDC issuer): (method, target, headers) ->
# (status, content type, body).
Handler = Callable[[str, str, Dict[str, str]], Tuple[int, str, bytes]]


@dataclass
class Entry:
    """One request as the proxy saw it. Times are `time.monotonic()` seconds."""

    server: str
    label: str
    method: str
    path: str
    status: int
    start: float
    end: float
    conn: int
    new_conn: bool
    bytes_up: int
    bytes_down: int


@dataclass
class Listener:
    name: str
    upstream: Optional[Tuple[str, int]] = None  # (host, port), or None when `handler` answers
    handler: Optional[Handler] = None
    port: int = 0


@dataclass
class Proxy:
    listeners: List[Listener]
    delay: float = 0.0  # seconds added to every request; change it between runs
    connect_delay: bool = False  # also add `delay` once per new client connection
    log: List[Entry] = field(default_factory=list)
    _inflight: int = 0
    _conn_ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(1))
    _loop: Optional[asyncio.AbstractEventLoop] = None

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def bind() -> None:
                for lst in self.listeners:
                    server = await asyncio.start_server(
                        lambda r, w, lst=lst: self._client(lst, r, w), "127.0.0.1", lst.port,
                        limit=1 << 20,
                    )
                    lst.port = server.sockets[0].getsockname()[1]

            loop.run_until_complete(bind())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, name="latency-proxy", daemon=True).start()
        if not ready.wait(10):
            raise RuntimeError("the proxy did not start")

    def url(self, name: str) -> str:
        port = next(lst.port for lst in self.listeners if lst.name == name)
        return f"http://127.0.0.1:{port}"

    def quiet(self, timeout: float = 5.0) -> None:
        """Waits until no request is in flight (the last answer of a run has been logged)."""
        deadline = time.monotonic() + timeout
        while self._inflight and time.monotonic() < deadline:
            time.sleep(0.005)

    # ------------------------------------------------------------------ one client connection
    async def _client(self, lst: Listener, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        conn = next(self._conn_ids)
        new_conn = True
        up: Optional[Tuple[asyncio.StreamReader, asyncio.StreamWriter]] = None
        try:
            if self.connect_delay and self.delay:
                # The handshake, logged as a round trip of its own (not as a request).
                self._inflight += 1
                started = time.monotonic()
                await asyncio.sleep(self.delay)
                self.log.append(Entry(lst.name, "connect", "CONNECT", "", 0, started,
                                      time.monotonic(), conn, True, 0, 0))
                self._inflight -= 1
            while True:
                head = await _read_head(reader)
                if head is None:
                    break
                self._inflight += 1
                try:
                    start = time.monotonic()
                    method, target, headers, lines = _parse_request(head)
                    label = _label(lst.name, method, target, headers)
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if headers.get("expect", "").lower() == "100-continue":
                        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                        lines = [ln for ln in lines if not ln.lower().startswith(b"expect:")]
                    if lst.handler is not None:
                        up_bytes = await _skip_body(reader, headers)
                        status, ctype, body = lst.handler(method, target, headers)
                        writer.write(
                            f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n"
                            f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                        )
                        await writer.drain()
                        down_bytes, close = len(body), False
                    else:
                        if up is None:
                            up = await asyncio.open_connection(*lst.upstream, limit=1 << 20)
                        up[1].write(b"\r\n".join(lines) + b"\r\n\r\n")
                        up_bytes = await _relay_body(reader, up[1], headers, None, method)
                        status, down_bytes, close = await _relay_response(up[0], writer, method)
                        close = close or headers.get("connection", "").lower() == "close"
                    self.log.append(Entry(lst.name, label, method, target.split("?", 1)[0], status,
                                          start, time.monotonic(), conn, new_conn, up_bytes,
                                          down_bytes))
                    new_conn = False
                finally:
                    self._inflight -= 1
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            for w in (writer, up[1] if up else None):
                if w is not None:
                    w.close()


# ---------------------------------------------------------------------- HTTP/1.1 framing
async def _read_head(reader: asyncio.StreamReader) -> Optional[bytes]:
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None


def _headers(lines: List[bytes]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for ln in lines:
        name, _, value = ln.decode("latin-1").partition(":")
        out[name.strip().lower()] = value.strip()
    return out


def _parse_request(head: bytes) -> Tuple[str, str, Dict[str, str], List[bytes]]:
    lines = head[:-4].split(b"\r\n")
    method, target, _ = lines[0].decode("latin-1").split(" ", 2)
    return method, target, _headers(lines[1:]), lines


async def _relay_body(reader: asyncio.StreamReader, writer: Optional[asyncio.StreamWriter],
                      headers: Dict[str, str], status: Optional[int], method: str) -> int:
    """Copies one message body from `reader` to `writer` (None: discard); returns its size.
    For a response (`status` given) without framing, copies until the upstream closes."""
    n = 0
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = await reader.readuntil(b"\r\n")
            size = int(line.split(b";", 1)[0].strip(), 16)
            data = line + (await reader.readexactly(size + 2) if size else b"")
            if size == 0:  # trailers, then the empty line
                while True:
                    t = await reader.readuntil(b"\r\n")
                    data += t
                    if t == b"\r\n":
                        break
            n += len(data)
            if writer is not None:
                writer.write(data)
                await writer.drain()
            if size == 0:
                return n
    if "content-length" in headers:
        left = int(headers["content-length"])
        while left:
            data = await reader.read(min(left, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(data)
            n += len(data)
            if writer is not None:
                writer.write(data)
                await writer.drain()
        return n
    if status is None or method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return 0
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return n
        n += len(data)
        if writer is not None:
            writer.write(data)
            await writer.drain()


async def _skip_body(reader: asyncio.StreamReader, headers: Dict[str, str]) -> int:
    return await _relay_body(reader, None, headers, None, "")


async def _relay_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          method: str) -> Tuple[int, int, bool]:
    """Relays interim (1xx) answers and the final one; returns (status, bytes, close after)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        version, status_text = lines[0].decode("latin-1").split(" ", 1)
        status = int(status_text.split(" ", 1)[0])
        headers = _headers(lines[1:])
        writer.write(head)
        if 100 <= status < 200 and status != 101:
            continue
        framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
        n = len(head) + await _relay_body(reader, writer, headers, status, method)
        await writer.drain()
        conn = headers.get("connection", "").lower()
        close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive") or (
            not framed and method != "HEAD" and status not in (204, 304))
        return status, n, close


# ---------------------------------------------------------------------- what a request is
_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")


def _label(server: str, method: str, target: str, headers: Dict[str, str]) -> str:
    path = target.split("?", 1)[0]
    if server == "aws":
        # SigV4 names the service in its credential scope; STS's AssumeRoleWithWebIdentity is
        # the one call that is not signed.
        m = _SCOPE.search(headers.get("authorization", ""))
        service = m.group(1) if m else "sts"
        op = headers.get("x-amz-target", "").rsplit(".", 1)[-1] or (
            "AssumeRoleWithWebIdentity" if not m else method)
        return f"{service} {op}"
    if server == "github":
        return "graphql" if path.endswith("graphql") else f"rest {method} {_template(path)}"
    if server == "git":
        service = re.search(r"service=([\w-]+)", target)
        return f"{method} {path.rsplit('/', 1)[-1]}" + (f"?{service.group(1)}" if service else "")
    return f"{method} {path}"


def _template(path: str) -> str:
    """A REST path with the SHAs and blob ids folded, so equal operations group together."""
    return re.sub(r"/[0-9a-f]{40}", "/{sha}", path)


# ---------------------------------------------------------------------- the figures of a run
def round_trips(entries: List[Entry]) -> int:
    """The largest number of requests of which no two overlap in time: requests that had to
    wait for one another. Each one costs at least the added delay, so a run with this many
    sequential round trips takes at least that many delays."""
    count, free_at = 0, float("-inf")
    for e in sorted(entries, key=lambda e: e.end):
        if e.start >= free_at:
            count, free_at = count + 1, e.end
    return count


def summary(entries: List[Entry]) -> Dict[str, object]:
    """The figures of one run. Handshakes (`--connect-delay`) count as round trips, not requests."""
    per_server: Dict[str, int] = {}
    per_label: Dict[str, int] = {}
    requests = [e for e in entries if e.method != "CONNECT"]
    for e in requests:
        key = e.label.split(" ", 1)[0] if e.server == "aws" else e.server
        per_server[key] = per_server.get(key, 0) + 1
        per_label[f"{e.server}: {e.label}"] = per_label.get(f"{e.server}: {e.label}", 0) + 1
    return {
        "requests": len(requests),
        "per_server": per_server,
        "per_label": per_label,
        "round_trips": round_trips(entries),
        "connections": sum(1 for e in requests if e.new_conn),
        "bytes_down": sum(e.bytes_down for e in requests),
        "bytes_up": sum(e.bytes_up for e in requests),
        "errors": [f"{e.server} {e.method} {e.path} -> {e.status}" for e in requests
                   if e.status >= 400],
    }


def oidc_handler(token: str, jwt: str) -> Handler:
    """The runner's OIDC token endpoint: checks the bearer token, answers `{"value": JWT}`."""

    def handle(method: str, target: str, headers: Dict[str, str]) -> Tuple[int, str, bytes]:
        if headers.get("authorization") != f"Bearer {token}":
            return 401, "application/json", b'{"message":"bad token"}'
        return 200, "application/json", json.dumps({"count": 1, "value": jwt}).encode()

    return handle
