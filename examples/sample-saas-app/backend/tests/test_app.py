"""Starts the real server on a free port and talks HTTP to it."""

import json
import os
import threading
import unittest
from unittest import mock
from urllib.error import HTTPError
from urllib.request import urlopen

import app


class BackendTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.server = app.make_server(0)
        cls.base = f"http://127.0.0.1:{cls.server.server_address[1]}"
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.shutdown()
        cls.server.server_close()

    def get(self, path: str) -> tuple[int, dict]:
        try:
            with urlopen(self.base + path, timeout=5) as resp:
                return resp.status, json.load(resp)
        except HTTPError as e:
            return e.code, json.load(e)

    def test_healthz(self) -> None:
        self.assertEqual(self.get("/healthz"), (200, {"status": "ok"}))

    def test_healthz_ignores_a_query(self) -> None:
        self.assertEqual(self.get("/healthz?probe=readiness")[0], 200)

    def test_info_reports_version_and_settings_but_no_secret(self) -> None:
        env = {
            "APP_VERSION": "1a2b3c4",
            "LOG_LEVEL": "debug",
            "DATABASE_URL": "postgres://u:p@db/x",
        }
        with mock.patch.dict(os.environ, env):
            status, body = self.get("/api/info")
        self.assertEqual(status, 200)
        self.assertEqual(
            body,
            {
                "service": "backend",
                "version": "1a2b3c4",
                "log_level": "debug",
                "database_configured": True,
            },
        )
        self.assertNotIn("postgres://", json.dumps(body))

    def test_unknown_path_is_404(self) -> None:
        self.assertEqual(self.get("/nope"), (404, {"error": "not found"}))


if __name__ == "__main__":
    unittest.main()
