#!/usr/bin/env python3
"""A tiny OTLP/HTTP receiver that records what an OpenTelemetry exporter POSTs (stdlib only).

    POST /v1/traces   (also /v1/logs and /v1/metrics, recorded the same way)

Every body is written verbatim to ``OUT/<signal>-<N>.<ext>`` (``.pb`` for
``application/x-protobuf``, ``.json`` for ``application/json``, ``.bin`` otherwise; a
``Content-Encoding: gzip`` body is saved as sent, plus its inflated ``.pb``/``.json`` beside it),
and its request line, headers, arrival time (``received_unix``, wall-clock seconds) and size to
``OUT/<signal>-<N>.headers.json``; ``N`` counts from 1 per signal. How LiteLLM's OTel callback
was captured with it: ``fixtures/formats/otel/CAPTURED.md``.

Answers ``200`` with an empty ``ExportTraceServiceResponse``: an empty body with
``Content-Type: application/x-protobuf`` for a protobuf request (the encoding of a response that
rejected nothing), ``{}`` with ``application/json`` for a JSON one. ``--token`` makes it demand
``Authorization: Bearer <token>`` (401, nothing saved, otherwise); ``--status`` answers another
status instead (e.g. 503, to watch the exporter retry). Other paths and methods get 404/405.
``GET /captured`` returns ``{"posts": N, "by_signal": {...}, "bytes": N}``.

    python3 otlp_capture_server.py --port 4318 --out /tmp/otlp-captures --token tok-123

Prints ``listening on http://HOST:PORT`` to stdout once it accepts connections (``--port 0``
picks a free port), then one line per capture.
"""

import argparse
import gzip
import itertools
import json
import os
import sys
import threading
import time
import zlib
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNALS = ("traces", "logs", "metrics")


def extension(content_type: str) -> str:
    media = content_type.split(";", 1)[0].strip().lower()
    if media in ("application/x-protobuf", "application/protobuf"):
        return "pb"
    if media == "application/json":
        return "json"
    return "bin"


def inflate(body: bytes, encoding: str):
    """The decompressed body, or None when it is not compressed (or not in a way we know)."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except (OSError, zlib.error, EOFError):
        return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--out", default="/tmp/otlp-captures")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN")
    parser.add_argument("--status", type=int, default=200, help="HTTP status to answer with")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    counters = defaultdict(itertools.count)
    totals = {"posts": 0, "bytes": 0, "by_signal": defaultdict(int)}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a collector does

        def reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            if self.path.split("?", 1)[0] != "/captured":
                self.reply(404, b'{"error":"not found"}', "application/json")
                return
            with lock:
                body = json.dumps(
                    {"posts": totals["posts"], "by_signal": dict(totals["by_signal"]), "bytes": totals["bytes"]}
                ).encode()
            self.reply(200, body, "application/json")

        def do_POST(self) -> None:  # noqa: N802
            received = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("?", 1)[0].rstrip("/")
            signal = path.rsplit("/", 1)[-1]
            if not path.startswith("/v1/") or signal not in SIGNALS:
                self.reply(404, b'{"error":"not found"}', "application/json")
                return
            if args.token and self.headers.get("Authorization") != f"Bearer {args.token}":
                self.reply(401, b'{"error":"bad or missing bearer token"}', "application/json")
                print(f"rejected {self.command} {self.path}: bad or missing bearer token", flush=True)
                return
            ext = extension(self.headers.get("Content-Type", ""))
            with lock:
                n = next(counters[signal]) + 1
                totals["posts"] += 1
                totals["bytes"] += len(body)
                totals["by_signal"][signal] += 1
            stem = os.path.join(args.out, f"{signal}-{n}")
            encoding = self.headers.get("Content-Encoding", "")
            inflated = inflate(body, encoding) if encoding else None
            raw_name = f"{stem}.{ext}.{encoding.strip().lower()}" if inflated is not None else f"{stem}.{ext}"
            with open(raw_name, "wb") as f:
                f.write(body)
            if inflated is not None:
                with open(f"{stem}.{ext}", "wb") as f:
                    f.write(inflated)
            with open(stem + ".headers.json", "w", encoding="utf-8") as f:
                json.dump(
                    {
                        "method": self.command,
                        "path": self.path,
                        "http_version": self.request_version,
                        "headers": dict(self.headers.items()),
                        "received_unix": received,
                        "body_bytes": len(body),
                        "inflated_bytes": len(inflated) if inflated is not None else None,
                    },
                    f,
                    indent=2,
                )
            print(f"captured {raw_name} ({len(body)} bytes)", flush=True)
            if args.status >= 400:
                self.reply(args.status, b"", "text/plain")
            elif ext == "json":
                self.reply(args.status, b"{}", "application/json")
            else:
                self.reply(args.status, b"", "application/x-protobuf")

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
