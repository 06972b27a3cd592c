"""The local SageMaker runtime endpoint: routes each endpoint name to its server.

boto3 has one runtime URL (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``); on AWS each
endpoint name is its own fleet. A canary's candidate runs on an endpoint of its own,
so locally two inference servers run, and this router forwards
``/endpoints/{name}/...`` to the server that serves ``name`` (other paths, and names it
does not know, go to the stable server, which answers as it would). Promotion re-points
the stable endpoint's name, as the cloud's endpoint update does.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class RuntimeRouter:
    def __init__(self, port: int, default_port: int) -> None:
        self.routes: dict[str, int] = {}
        self.default_port = default_port
        self.lock = threading.Lock()
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                return None

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = router.port_for(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                conn = http.client.HTTPConnection("127.0.0.1", target, timeout=120)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    self.send_response(resp.status, resp.reason)
                    for name, value in resp.getheaders():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, routes: dict[str, int], default_port: int) -> None:
        with self.lock:
            self.routes = dict(routes)
            self.default_port = default_port

    def port_for(self, path: str) -> int:
        parts = path.split("/")
        with self.lock:
            if len(parts) > 2 and parts[1] == "endpoints":
                return self.routes.get(parts[2], self.default_port)
            return self.default_port
