#!/usr/bin/env python3
"""A tiny HTTP sink that records what LiteLLM's generic API logger POSTs.

Every POST body is written verbatim to ``OUT/<name>-<N>.json`` and its request line and headers to
``OUT/<name>-<N>.headers.json``, where ``<name>`` is the last path segment of the request URL
(point each ``callback_settings`` entry at ``http://127.0.0.1:PORT/<log_format>``) and ``N``
counts from 1 per name. It answers ``200 {"ok": true}``, or the status in ``--status`` to test the
logger's retries. Stdlib only.

    python3 capture_server.py --port 4999 --out /tmp/litellm-captures

Prints ``listening on http://127.0.0.1:PORT`` to stdout once it accepts connections (``--port 0``
picks a free port), then one line per capture.
"""

import argparse
import itertools
import json
import os
import sys
import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4999)
    parser.add_argument("--out", default="/tmp/litellm-captures")
    parser.add_argument("--status", type=int, default=200, help="HTTP status to answer with")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    counters = defaultdict(itertools.count)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            name = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "root"
            with lock:
                n = next(counters[name]) + 1
            stem = os.path.join(args.out, f"{name}-{n}")
            with open(stem + ".json", "wb") as f:
                f.write(body)
            with open(stem + ".headers.json", "w", encoding="utf-8") as f:
                json.dump(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers.items())},
                    f,
                    indent=2,
                )
            print(f"captured {stem}.json ({len(body)} bytes)", flush=True)
            reply = json.dumps({"ok": args.status < 400}).encode()
            self.send_response(args.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
