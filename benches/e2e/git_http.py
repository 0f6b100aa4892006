"""A git smart-HTTP server for the end-to-end benchmark: `git http-backend` (git's own CGI
program) behind a small threaded HTTP/1.1 server, serving the bare repositories under --root,
clone and push, no authentication. Prints `listening on 127.0.0.1:PORT` once ready.

Usage: python git_http.py --root DIR [--port 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = ""
    backend = ""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.root,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            # receive-pack (push) is on when the request is authenticated; pretend it is.
            "REMOTE_USER": "bench",
            "REMOTE_ADDR": self.client_address[0],
            "REQUEST_METHOD": self.command,
            "PATH_INFO": urllib.parse.unquote(parsed.path),
            "QUERY_STRING": parsed.query,
            "CONTENT_TYPE": self.headers.get("content-type", ""),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        for name, var in (("git-protocol", "HTTP_GIT_PROTOCOL"),
                          ("content-encoding", "HTTP_CONTENT_ENCODING")):
            if self.headers.get(name):
                env[var] = self.headers[name]
        length = self.headers.get("content-length")
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        if length is not None:
            env["CONTENT_LENGTH"] = length
        proc = subprocess.Popen([self.backend], env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        # Feed the request body on a thread while the answer streams out (a fetch sends a small
        # request and gets a large pack back; a push the other way round).
        feeder = threading.Thread(target=self._feed, args=(proc, length, chunked), daemon=True)
        feeder.start()
        assert proc.stdout is not None
        status, headers = 200, []
        while True:
            line = proc.stdout.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
            if name.lower() == "status":
                status = int(value.strip().split(" ", 1)[0])
            else:
                headers.append((name, value.strip()))
        self.send_response(status)
        known_length = any(n.lower() == "content-length" for n, _ in headers)
        for name, value in headers:
            self.send_header(name, value)
        if not known_length:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            data = proc.stdout.read1(CHUNK)
            if not data:
                break
            self.wfile.write(data if known_length else b"%x\r\n%s\r\n" % (len(data), data))
        if not known_length:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        feeder.join()
        proc.wait()

    def _feed(self, proc: subprocess.Popen, length: str | None, chunked: bool) -> None:
        assert proc.stdin is not None
        try:
            if chunked:
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    proc.stdin.write(self.rfile.read(size))
                    self.rfile.readline()
            elif length:
                left = int(length)
                while left:
                    data = self.rfile.read(min(left, CHUNK))
                    if not data:
                        break
                    left -= len(data)
                    proc.stdin.write(data)
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True,
                               check=True).stdout.strip()
    Handler.root = os.path.abspath(args.root)
    Handler.backend = shutil.which("git-http-backend", path=exec_path) or "git-http-backend"
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    sys.stdout.write("listening on %s:%d\n" % server.server_address[:2])
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
