"""HTTP front end: routing, auth, fault injection, contract checks, control API."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import select
import socket
import struct
import sys
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from . import behaviours as rules
from . import contracts, rest
from .core import ApiError, Emulator, iso, token_id
from .graphql_api import GraphQLApi, load_schema

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CACHE = os.environ.get("GITHUB_EMULATOR_CACHE", os.path.join(HERE, ".cache"))
API_VERSION = "2022-11-28"


class App:
    def __init__(self, state_dir: str, cache_dir: str = DEFAULT_CACHE, validate: bool = True):
        t0 = time.time()
        self.emu = Emulator(state_dir)
        self.rest = rest.RestApi(self.emu)
        self.validate = validate
        self.contract = contracts.load(rest.operations(), cache_dir) if validate else None
        t1 = time.time()
        self.graphql = GraphQLApi(self.emu, load_schema())
        t2 = time.time()
        self.timings = {"openapi_s": round(t1 - t0, 3), "graphql_schema_s": round(t2 - t1, 3)}
        self.config: Dict[str, Any] = {}

    def load_config(self, cfg: Dict[str, Any]) -> None:
        self.config = cfg
        self.emu.apply_config(cfg)


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "GitHub.com-emulator"
    app: App  # set on the class by make_server

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        if os.environ.get("GITHUB_EMULATOR_VERBOSE"):
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

    # every method goes through one dispatcher
    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_GET

    # ------------------------------------------------------------------ plumbing
    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None) -> Tuple[bytes, str]:
        headers = dict(headers or {})
        lower = {k.lower(): k for k in headers}
        if isinstance(body, (bytes, bytearray)):
            data = bytes(body)
            ctype = headers.pop(lower["content-type"], None) if "content-type" in lower else None
            ctype = ctype or "application/octet-stream"
        elif isinstance(body, str):
            data = body.encode("utf-8")
            ctype = headers.pop(lower["content-type"], None) if "content-type" in lower else None
            ctype = ctype or "text/plain; charset=utf-8"
        elif body is None:
            data = b""
            ctype = headers.pop(lower["content-type"], None) if "content-type" in lower else None
        else:
            data = _json_bytes(body)
            ctype = headers.pop(lower["content-type"], None) if "content-type" in lower else None
            ctype = ctype or "application/json; charset=utf-8"
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        return data, ctype or ""

    def _break_connection(self, fault) -> None:
        """A fault's `connection`: "reset" closes with a TCP RST; "hang" answers nothing until
        the client closes (or `delay_ms`, when set), then closes."""
        self.close_connection = True
        conn = self.connection
        if fault.connection == "hang":
            until = time.time() + (fault.delay_ms / 1000.0 if fault.delay_ms else 600.0)
            while time.time() < until:
                ready, _, _ = select.select([conn], [], [], min(0.2, max(0.0, until - time.time())))
                if ready:
                    try:
                        if not conn.recv(1, socket.MSG_PEEK):
                            break  # the client gave up
                    except OSError:
                        break
                    time.sleep(0.05)  # more bytes from the client: keep hanging
        try:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ dispatch
    def _dispatch(self) -> None:
        self._lost_answer = None
        app = self.app
        started = time.time()
        parsed = urllib.parse.urlsplit(self.path)
        raw_path = parsed.path
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        try:
            body_bytes = self._read_body()
        except Exception:  # noqa: BLE001
            self.close_connection = True
            return
        host = self.headers.get("host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        web = f"http://{host}"
        # The token sent, known or not: faults, the log and violations are scoped by it.
        sent = re.match(r"^(?:bearer|token)\s+(\S+)\s*$", self.headers.get("authorization", ""), re.I)
        sent_token = sent.group(1) if sent else None
        if sent_token is None and raw_path.startswith("/hook/"):
            # Flux's Receiver takes no GitHub token: its calls join the scope of the test that
            # configured it (flux.py), so tests sharing an emulator see their own.
            sent_token = app.emu.flux.scope_token(raw_path + (f"?{parsed.query}" if parsed.query else ""))
        app.emu.scope.token_id = token_id(sent_token)
        if raw_path.startswith("/_emulator/") or raw_path == "/_emulator":
            self._control(raw_path, query, body_bytes)
            return

        ghes = raw_path.startswith("/api/v3/") or raw_path == "/api/v3"
        is_graphql = raw_path in ("/graphql", "/api/graphql")
        path = raw_path[len("/api/v3"):] or "/" if ghes else raw_path
        api_base = f"{web}/api/v3" if (ghes or raw_path == "/api/graphql") else web
        req_id = uuid.uuid4().hex[:8].upper() + ":" + uuid.uuid4().hex[:8].upper()
        entry: Dict[str, Any] = {"seq": app.emu.next_seq(), "time": iso(started), "method": self.command,
                                 "path": raw_path, "query": parsed.query,
                                 "api": "graphql" if is_graphql else "receiver" if raw_path.startswith("/hook/") else "rest",
                                 "request_id": req_id}
        if sent_token:
            entry["token_id"] = token_id(sent_token)
        body_text = body_bytes.decode("utf-8", "replace")
        if body_bytes:
            # keep what the client sent, so tests can assert on it
            try:
                entry["body"] = json.loads(body_text) if len(body_bytes) <= 262144 else body_text[:4096]
            except ValueError:
                entry["body"] = body_text[:4096]
        gql_fields: List[str] = []
        gql_body = None
        if is_graphql:
            try:
                gql_body = json.loads(body_text) if body_text else None
                from graphql import parse as _p
                from .graphql_api import operation_info
                if isinstance(gql_body, dict) and isinstance(gql_body.get("query"), str):
                    name, op_type, gql_fields = operation_info(_p(gql_body["query"]), gql_body.get("operationName"))
                    entry["graphql"] = {"operation_name": name, "operation_type": op_type, "fields": gql_fields}
            except Exception:  # noqa: BLE001 - reported properly by the GraphQL handler
                pass

        # ---- fault injection (before auth: a 502 comes from the edge)
        injected = None
        self._lost_connection = None
        for fault in app.emu.match_faults(self.command, raw_path, body_text, gql_fields, sent_token):
            if fault.connection:
                # a dead connection, before or (lose_response) after serving
                if fault.lose_response:
                    self._lost_connection = fault
                elif injected is None:
                    injected = fault
                continue
            if fault.commit:
                c = fault.commit
                try:
                    oid = app.emu.out_of_band_commit(c["repo"], c["branch"], c.get("files", {}),
                                                     c.get("message", "Out-of-band change"), c.get("author"))
                    entry.setdefault("fault_commits", []).append(oid)
                except Exception as e:  # noqa: BLE001
                    entry.setdefault("fault_errors", []).append(str(e))
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000.0)
            if fault.status and fault.lose_response:
                self._lost_answer = fault
            elif fault.status and injected is None:
                injected = fault
        if injected is not None and injected.connection:
            self._break_connection(injected)
            entry.update(status=None, fault=injected.id, connection=injected.connection,
                         duration_ms=round((time.time() - started) * 1000, 2))
            app.emu.log_request(entry)
            return
        if injected is not None:
            headers = {"x-github-request-id": req_id}
            headers.update(_fault_headers(injected))
            self._send(injected.status, injected.body if injected.body is not None else "", headers)
            entry.update(status=injected.status, fault=injected.id,
                         duration_ms=round((time.time() - started) * 1000, 2))
            app.emu.log_request(entry)
            return

        # ---- Flux's Receiver (flux.py): its own server in a cluster, no GitHub auth
        if raw_path.startswith("/hook/"):
            uri = raw_path + (f"?{parsed.query}" if parsed.query else "")
            status, info = app.emu.flux.receive(uri, {k.lower(): v for k, v in self.headers.items()}, body_bytes)
            self._send(status, None)
            entry.update(api="receiver", status=status, receiver=info,
                         headers={k: v for k, v in ((k.lower(), v) for k, v in self.headers.items())
                                  if k in ("x-signature", "content-type", "user-agent")},
                         duration_ms=round((time.time() - started) * 1000, 2))
            app.emu.log_request(entry)
            return

        # ---- GitHub refuses API requests without a User-Agent
        if not self.headers.get("user-agent"):
            app.emu.violation("request", self.command, raw_path, ["no User-Agent header (GitHub answers 403)"])
            self._send(403, "Request forbidden by administrative rules. Please make sure your request has a "
                            "User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api"
                            "#user-agent-required). Check https://developer.github.com for other possible causes.\n",
                       {"content-type": "text/plain; charset=utf-8", "x-github-request-id": req_id})
            entry.update(status=403, duration_ms=round((time.time() - started) * 1000, 2))
            app.emu.log_request(entry)
            return

        # ---- auth
        auth = self.headers.get("authorization", "")
        m = re.match(r"^(?:bearer|token)\s+(\S+)\s*$", auth, re.I)
        token = app.emu.tokens.get(m.group(1)) if m else None
        base_headers = {"x-github-request-id": req_id, "x-github-api-version-selected": API_VERSION,
                        "x-github-media-type": "github.v3; format=json"}
        if token is None:
            if is_graphql:
                body = {"message": "This endpoint requires you to be authenticated." if not m else "Bad credentials",
                        "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql"
                                             "#authenticating-with-graphql"}
            else:
                body = {"message": "Requires authentication" if not m else "Bad credentials",
                        "documentation_url": "https://docs.github.com/rest", "status": "401"}
            status, resp_body, resp_headers = 401, body, base_headers
            self._finish_rest_or_gql(entry, started, status, resp_body, resp_headers, is_graphql, path, query,
                                     body_bytes, None)
            return
        entry["login"] = token.login
        resource = "graphql" if is_graphql else "core"
        # GET /rate_limit does not count against the limit (REST docs, rate-limit)
        counted = is_graphql or path != "/rate_limit"
        limit, remaining, reset, exceeded = app.emu.rate_limit_tick(token.login, resource, counted)
        base_headers.update({"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining),
                             "x-ratelimit-reset": str(reset), "x-ratelimit-used": str(limit - remaining),
                             "x-ratelimit-resource": resource})
        if token.kind == "classic":
            base_headers["x-oauth-scopes"] = "repo"
        if exceeded:
            # the primary rate limit is spent (behaviours.primary_limit_answer)
            user = app.emu.user(token.login) or app.emu.add_user(token.login)
            status, body = rules.primary_limit_answer("graphql" if is_graphql else "rest", user.id)
            entry["rate_limited"] = "primary"
            self._finish_rest_or_gql(entry, started, status, body, base_headers, is_graphql, path, query,
                                     body_bytes, None)
            return
        op_type = (entry.get("graphql") or {}).get("operation_type")
        if rules.is_write("graphql" if is_graphql else "rest", self.command, op_type):
            with app.emu.lock:
                blocked = app.emu.content.blocked(token.login, app.emu.limits)
            if blocked:
                # the content-creation secondary limit (behaviours.ContentCreation)
                entry["rate_limited"] = "content_creation"
                self._finish_rest_or_gql(entry, started, 403, dict(rules.CONTENT_CREATION_BODY), base_headers,
                                         is_graphql, path, query, body_bytes, None)
                return

        if is_graphql:
            if self.command != "POST":
                self._finish_rest_or_gql(entry, started, 404, {"message": "Not Found",
                                                               "documentation_url": "https://docs.github.com/graphql"},
                                         base_headers, True, path, query, body_bytes, None)
                return
            if gql_body is None and body_text:
                try:
                    gql_body = json.loads(body_text)
                except ValueError:
                    app.emu.violation("graphql", self.command, raw_path, ["request body is not JSON"])
                    self._finish_rest_or_gql(entry, started, 400, {"message": "Problems parsing JSON",
                                                                   "documentation_url": "https://docs.github.com/graphql"},
                                             base_headers, True, path, query, body_bytes, None)
                    return
            try:
                status, resp, op_info = app.graphql.handle(gql_body, token, api_base, web, self.command, raw_path)
            except Exception as e:  # noqa: BLE001
                app.emu.violation("emulator_bug", self.command, raw_path, [repr(e), traceback.format_exc()[-2000:]])
                status, resp, op_info = 500, {"message": "Server Error"}, {}
            if op_info:
                entry["graphql"] = op_info
            if isinstance(resp, dict) and resp.get("errors"):
                entry["graphql_errors"] = [e.get("type") or e.get("message") for e in resp["errors"]][:5]
            self._finish_rest_or_gql(entry, started, status, resp, base_headers, True, path, query, body_bytes, None)
            return

        # ---- REST
        route, params, known = rest.match(self.command if self.command != "HEAD" else "GET", path)
        if route is None:
            status = 404
            resp = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}
            app.emu.violation("unsupported", self.command, raw_path,
                              ["the emulator does not serve this path" if not known else
                               f"the emulator does not serve {self.command} on this path"])
            self._finish_rest_or_gql(entry, started, status, resp, base_headers, False, path, query, body_bytes, None)
            return
        entry["operation"] = route.template
        has_body = bool(body_bytes.strip())
        body: Any = None
        if has_body:
            try:
                body = json.loads(body_text)
            except ValueError:
                app.emu.violation("request", self.command, raw_path, ["request body is not valid JSON"],
                                  operation=route.template)
                self._finish_rest_or_gql(entry, started, 400, {"message": "Problems parsing JSON",
                                                               "documentation_url": "https://docs.github.com/rest",
                                                               "status": "400"},
                                         base_headers, False, path, query, body_bytes, route)
                return
        if app.contract is not None:
            problems = app.contract.check_request(self.command, route.template, params, query, body, has_body)
            if problems:
                app.emu.violation("request", self.command, raw_path, problems, operation=route.template)
                hard = [p for p in problems if "is not defined for this operation" not in p]
                if hard:
                    op = app.contract.operation(self.command, route.template)
                    doc = f"https://docs.github.com/rest ({op['operationId']})"
                    self._finish_rest_or_gql(entry, started, 422, {
                        "message": "Invalid request.\n\n" + "\n".join(hard), "documentation_url": doc,
                        "status": "422"}, base_headers, False, path, query, body_bytes, route)
                    return
        req = rest.Req(method=self.command, path=path, query=query, body=body, has_body=has_body, token=token,
                       headers={k.lower(): v for k, v in self.headers.items()}, api=api_base, web=web, params=params)
        try:
            status, resp, extra = route.handler(app.rest, req)
        except ApiError as e:
            status = e.status
            resp = {"message": e.message, "documentation_url": e.doc or "https://docs.github.com/rest",
                    "status": str(e.status)}
            if e.errors is not None:
                resp["errors"] = e.errors
            extra = e.headers
        except Exception as e:  # noqa: BLE001
            app.emu.violation("emulator_bug", self.command, raw_path, [repr(e), traceback.format_exc()[-2000:]],
                              operation=route.template)
            status, resp, extra = 500, {"message": "Server Error", "status": "500"}, {}
        headers = dict(base_headers)
        headers.update(extra or {})
        if self.command in ("GET", "HEAD") and status == 200 and isinstance(resp, (dict, list)):
            status, resp = self._conditional(resp, headers, token.login, entry)
        self._finish_rest_or_gql(entry, started, status, resp, headers, False, path, query, body_bytes, route)

    def _conditional(self, resp: Any, headers: Dict[str, str], login: str, entry: Dict[str, Any]) -> Tuple[int, Any]:
        """ETag and If-None-Match (REST docs, "Best practices": "Most endpoints return an etag
        header ... you can use the values of these headers to make conditional GET requests";
        "Making a conditional request and receiving a 304 response does not count against your
        primary rate limit"). The tag is a weak hash of the JSON body, so it changes exactly
        when the answer does."""
        etag = 'W/"' + hashlib.sha256(_json_bytes(resp)).hexdigest() + '"'
        headers["ETag"] = etag
        wanted = [t.strip() for t in self.headers.get("if-none-match", "").split(",") if t.strip()]
        if not wanted or not (etag in wanted or etag[2:] in wanted or "*" in wanted):
            return 200, resp
        with self.app.emu.lock:
            windows = self.app.emu.rate_windows.windows
            start, used = windows.get((login, "core"), (time.time(), 0))
            windows[(login, "core")] = (start, max(0, used - 1))
        limit = int(headers.get("x-ratelimit-limit", "0"))
        remaining = min(limit, int(headers.get("x-ratelimit-remaining", "0")) + 1)
        headers.update({"x-ratelimit-remaining": str(remaining), "x-ratelimit-used": str(limit - remaining)})
        entry["not_modified"] = True
        return 304, None

    def _finish_rest_or_gql(self, entry, started, status, resp, headers, is_graphql, path, query, body_bytes,
                            route) -> None:
        app = self.app
        login = entry.get("login")
        if login and not entry.get("rate_limited") and _created_content(self.command, is_graphql, entry, status, resp):
            with app.emu.lock:
                app.emu.content.record(login)
        dead = getattr(self, "_lost_connection", None)
        if dead is not None:
            # The request took effect; the connection dies before the answer.
            self._lost_connection = None
            self._break_connection(dead)
            entry.update(status=None, fault=dead.id, connection=dead.connection, served_status=status,
                         duration_ms=round((time.time() - started) * 1000, 2))
            app.emu.log_request(entry)
            return
        lost = getattr(self, "_lost_answer", None)
        if lost is not None:
            # The request took effect; the client gets the fault's answer instead.
            self._lost_answer = None
            lost_headers = _fault_headers(lost)
            self._send(lost.status, lost.body if lost.body is not None else "", lost_headers)
            entry.update(status=lost.status, fault=lost.id, served_status=status,
                         duration_ms=round((time.time() - started) * 1000, 2))
            app.emu.log_request(entry)
            return
        data, ctype = self._send(status, resp, headers)
        if route is not None and app.contract is not None:
            t = time.time()
            body_obj = resp if not isinstance(resp, (bytes, str)) else None
            problems = app.contract.check_response(self.command, route.template, status, body_obj,
                                                   bool(data) or resp is not None and not isinstance(resp, bytes),
                                                   ctype, headers)
            if problems:
                app.emu.violation("response", self.command, entry["path"], problems, operation=route.template,
                                  status=status)
            entry["validate_ms"] = round((time.time() - t) * 1000, 2)
        entry["status"] = status
        entry["duration_ms"] = round((time.time() - started) * 1000, 2)
        app.emu.log_request(entry)

    # ------------------------------------------------------------------ control API
    def _control(self, path: str, query: Dict[str, List[str]], body_bytes: bytes) -> None:
        app = self.app
        emu = app.emu
        try:
            body = json.loads(body_bytes) if body_bytes.strip() else {}
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        method = self.command
        try:
            if method == "GET" and path == "/_emulator/health":
                self._send(200, {"ok": True, "timings": app.timings, "repos": sorted(emu.repos)})
            elif method == "POST" and path == "/_emulator/repos":
                repo = emu.create_repo(**body)
                self._send(201, {"full_name": repo.full_name, "node_id": repo.node_id, "git_dir": repo.git.path,
                                 "default_branch": repo.default_branch,
                                 "head": emu.branch_head(repo, repo.default_branch)})
            elif method == "POST" and path == "/_emulator/tokens":
                t = emu.add_token(**body)
                self._send(201, {"token": t.token, "login": t.login})
            elif method == "POST" and path == "/_emulator/users":
                u = emu.add_user(**body)
                self._send(201, {"login": u.login, "id": u.id, "node_id": u.node_id})
            elif method == "POST" and path == "/_emulator/protect":
                p = emu.protect(**body)
                self._send(201, {"protected": p is not None})
            elif method == "POST" and path == "/_emulator/commit":
                oid = emu.out_of_band_commit(body["repo"], body["branch"], body.get("files", {}),
                                             body.get("message", "Out-of-band change"), body.get("author"),
                                             bool(body.get("signed", False)))
                self._send(201, {"oid": oid})
            elif method == "POST" and path == "/_emulator/merge":
                repo = emu.get_repo(*body["repo"].split("/", 1))
                pr = emu.find_pull(repo, int(body["number"]))
                by = body.get("by") or (pr.auto_merge or {}).get("enabled_by") or repo.owner
                method_ = body.get("method") or (pr.auto_merge or {}).get("merge_method", "merge")
                sha = emu.merge_pull(repo, pr, by, method_.lower())
                self._send(200, {"sha": sha})
            elif method == "POST" and path == "/_emulator/schema":
                # An older server (GitHub Enterprise Server) lacking some mutations; with
                # `token`, for that token's requests only.
                hidden = emu.hide_mutations(body.get("hide_mutations") or [], body.get("token"))
                self._send(200, {"hide_mutations": hidden})
            elif method == "GET" and path == "/_emulator/limits":
                self._send(200, emu.limits.as_dict())
            elif method == "POST" and path == "/_emulator/limits":
                self._send(200, emu.set_limits(body))
            elif method == "POST" and path == "/_emulator/faults":
                f = emu.add_fault(body)
                self._send(201, {"id": f.id})
            elif method == "GET" and path == "/_emulator/faults":
                self._send(200, [vars(f) for f in emu.faults])
            elif method == "DELETE" and path == "/_emulator/faults":
                with emu.lock:
                    emu.faults.clear()
                self._send(204, None)
            elif method == "POST" and path == "/_emulator/flux":
                self._send(201, emu.flux.configure(body))
            elif method == "GET" and path == "/_emulator/flux":
                self._send(200, emu.flux.state())
            elif method == "DELETE" and path == "/_emulator/flux":
                emu.flux.clear()
                self._send(204, None)
            elif method == "POST" and path == "/_emulator/flux/flush":
                self._send(200, {"events": emu.flux.flush(body.get("repo"), body.get("branch"),
                                                          bool(body.get("force", False)))})
            elif method == "POST" and path == "/_emulator/flux/receiver":
                emu.flux.set_receiver(body["webhook_path"], body.get("suspended"), body.get("ready"))
                self._send(200, emu.flux.state())
            elif method == "GET" and path == "/_emulator/statuses":
                self._send(200, emu.statuses.snapshot())
            elif method == "GET" and path == "/_emulator/requests":
                since = int((query.get("since") or ["0"])[-1])
                scope = _token_scope(query)
                with emu.lock:
                    self._send(200, [e for e in emu.requests if e["seq"] > since and scope(e)])
            elif method == "DELETE" and path == "/_emulator/requests":
                with emu.lock:
                    emu.requests.clear()
                self._send(204, None)
            elif method == "GET" and path == "/_emulator/violations":
                scope = _token_scope(query)
                with emu.lock:
                    self._send(200, [v for v in emu.violations if scope(v)])
            elif method == "DELETE" and path == "/_emulator/violations":
                with emu.lock:
                    emu.violations.clear()
                self._send(204, None)
            elif method == "POST" and path == "/_emulator/reset":
                emu.reset()
                if body.get("reload_config", True) and app.config:
                    emu.apply_config(app.config)
                self._send(200, {"reset": True})
            elif method == "GET" and re.fullmatch(r"/_emulator/repos/[^/]+/[^/]+(/git-dir)?", path):
                parts = path.split("/")
                repo = emu.get_repo(parts[3], parts[4])
                if repo is None:
                    self._send(404, {"error": "no such repository"})
                elif path.endswith("/git-dir"):
                    self._send(200, {"git_dir": repo.git.path})
                else:
                    self._send(200, self._repo_state(repo))
            else:
                self._send(404, {"error": f"unknown control endpoint {method} {path}"})
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, {"error": f"{type(e).__name__}: {e}"})
        except ApiError as e:
            self._send(e.status, {"error": e.message})

    def _repo_state(self, repo) -> Dict[str, Any]:
        emu = self.app.emu
        return {
            "full_name": repo.full_name, "git_dir": repo.git.path, "default_branch": repo.default_branch,
            "refs": dict(repo.git.list_refs()),
            "protections": {b: vars(p) for b, p in repo.protections.items()},
            "labels": [lab.name for lab in list(repo.labels.values())],
            "pulls": [{"number": p.number, "title": p.title, "body": p.body, "head": p.head_ref, "base": p.base_ref,
                       "state": p.state, "merged": p.merged, "draft": p.draft, "labels": p.labels,
                       "requested_reviewers": p.requested_reviewers, "auto_merge": p.auto_merge, "user": p.user,
                       "head_sha": emu.pull_head_oid(repo, p), "closed_reason": p.closed_reason}
                      for p in list(repo.pulls.values())],
        }


def _token_scope(query: Dict[str, List[str]]):
    """`?token=T`: only what requests carrying T did (tests sharing one emulator)."""
    if "token" not in query:
        return lambda _entry: True
    wanted = token_id(query["token"][-1])
    return lambda entry: entry.get("token_id") == wanted


def _fault_headers(fault) -> Dict[str, str]:
    headers = dict(fault.headers)
    if fault.reset_in is not None and "x-ratelimit-reset" not in {k.lower() for k in headers}:
        headers["x-ratelimit-reset"] = str(int(time.time()) + int(fault.reset_in))
    return headers


def _created_content(method: str, is_graphql: bool, entry: Dict[str, Any], status: int, resp: Any) -> bool:
    """A request that counts against the content-creation limit: a write that succeeded."""
    op_type = (entry.get("graphql") or {}).get("operation_type")
    if not rules.is_write("graphql" if is_graphql else "rest", method, op_type):
        return False
    if is_graphql:
        return status == 200 and isinstance(resp, dict) and not resp.get("errors") and resp.get("data") is not None
    return 200 <= status < 300


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client closing an idle keep-alive connection (a run that exits) is no error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def make_server(app: App, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"app": app})
    return _Server((host, port), handler)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="github_emulator", description="GitHub REST/GraphQL emulator for tests")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--config", help="JSON file: {users, repos, tokens, protect, faults}")
    ap.add_argument("--cache-dir", default=DEFAULT_CACHE,
                    help="where the extracted OpenAPI subset is cached (default: %(default)s)")
    ap.add_argument("--no-validate", action="store_true", help="skip REST contract checks")
    args = ap.parse_args(argv)
    from .graphql_api import DEFAULT_SCHEMA
    missing = [p for p in (contracts.DEFAULT_SPEC, DEFAULT_SCHEMA) if not os.path.exists(p)]
    if missing:
        sys.stderr.write("github_emulator: missing contract sources %s; run tests/support/github_emulator/install.sh\n"
                         % ", ".join(missing))
        return 2
    app = App(args.state_dir, args.cache_dir, validate=not args.no_validate)
    if args.config:
        with open(args.config, "r", encoding="utf-8") as f:
            cfg = json.load(f)
        base = os.path.dirname(os.path.abspath(args.config))
        for r in cfg.get("repos", []):
            if r.get("seed_dir") and not os.path.isabs(r["seed_dir"]):
                r["seed_dir"] = os.path.join(base, r["seed_dir"])
        app.load_config(cfg)
    server = make_server(app, args.host, args.port)
    host, port = server.server_address[:2]
    sys.stdout.write(f"listening on {host}:{port}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
