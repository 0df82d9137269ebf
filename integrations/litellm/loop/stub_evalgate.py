#!/usr/bin/env python3
"""A stand-in for ``evalgate serve``'s two gateway-facing endpoints, to drive the LiteLLM rig
without evalgate (stdlib only).

    GET  /v1/flags/{key}            the flag, shaped like evalgate's (see evalgate_router.py)
    POST /v1/ingest?format=litellm  LiteLLM generic API logger bodies (json_array, ndjson or
                                    single; sniffed from the body); with --ingest-token the
                                    request must carry ``Authorization: Bearer <token>`` (401
                                    otherwise). Every StandardLoggingPayload is appended as one
                                    line to --out; answers ``{"received": N}``.
    POST /stub/flags/{key}          change the flag: a JSON object of fields to set (e.g.
                                    ``{"basis_points": 0, "phase": "rolled_back"}``); bumps
                                    ``generation`` and ``updated_at`` like evalgate does
    GET  /stub/ingested             ``{"payloads": N, "posts": N, "by_model_group": {...},
                                    "by_arm": {...}, "by_status": {...}, "lag_s": {"p50", "max"}}``
                                    over what was ingested; ``lag_s`` is arrival time minus the
                                    payload's ``endTime`` (the logger's flush delay)

    python3 stub_evalgate.py --port 9464 --flag support-bot --basis-points 5000 \\
        --baseline support-bot@v41 --canary support-bot@v42 --rollout-id r1 \\
        --ingest-token tok --out /tmp/ingested.jsonl

Prints ``listening on http://HOST:PORT`` once it accepts connections (``--port 0`` picks a free
port). ``--schedule "SECONDS:BP,SECONDS:BP"`` changes the split by itself that many seconds after
start (e.g. ``20:0`` rolls back after 20 s), to rehearse a rollback without evalgate.
"""

import argparse
import json
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def parse_litellm_body(raw: bytes) -> list:
    """The payloads of one generic API logger POST, whatever its ``log_format``."""
    text = raw.decode("utf-8").strip()
    if not text:
        return []
    if text.startswith("["):
        return list(json.loads(text))
    try:
        return [json.loads(text)]  # single
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]  # ndjson


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.flags = {
            args.flag: {
                "flag_key": args.flag,
                "basis_points": args.basis_points,
                "generation": 1,
                "salt": args.salt if args.salt is not None else args.flag,
                "always": args.always,
                "never": args.never,
                "updated_at": now_rfc3339(),
                "rollout_id": args.rollout_id,
                "baseline_model": args.baseline,
                "canary_model": args.canary,
                "phase": args.phase,
            }
        }
        self.out = open(args.out, "a", encoding="utf-8") if args.out else None
        self.payloads = []  # compact summaries only
        self.posts = 0
        self.lags = []

    def set_flag(self, key: str, changes: dict) -> dict:
        with self.lock:
            flag = self.flags.setdefault(key, {"flag_key": key, "basis_points": 0, "generation": 0,
                                               "salt": key, "always": [], "never": []})
            flag.update({k: v for k, v in changes.items() if k not in ("flag_key", "generation")})
            flag["generation"] += 1
            flag["updated_at"] = now_rfc3339()
            return dict(flag)

    def ingest(self, payloads: list) -> None:
        arrived = time.time()
        with self.lock:
            self.posts += 1
            for p in payloads:
                if isinstance(p.get("endTime"), (int, float)):
                    self.lags.append(arrived - p["endTime"])
                if self.out:
                    self.out.write(json.dumps(p, separators=(",", ":")) + "\n")
                requester = ((p.get("metadata") or {}).get("requester_metadata") or {})
                self.payloads.append((p.get("model_group"), requester.get("evalgate_arm"),
                                      p.get("status")))
            if self.out:
                self.out.flush()

    def summary(self) -> dict:
        with self.lock:
            lags = sorted(self.lags)
            return {
                "payloads": len(self.payloads),
                "posts": self.posts,
                "lag_s": {"p50": round(lags[len(lags) // 2], 3) if lags else None,
                          "max": round(lags[-1], 3) if lags else None},
                "by_model_group": dict(Counter(str(m) for m, _, _ in self.payloads)),
                "by_arm": dict(Counter(str(a) for _, a, _ in self.payloads)),
                "by_status": dict(Counter(str(s) for _, _, s in self.payloads)),
            }


def make_handler(state: State, token):
    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self):  # noqa: N802
            path = urlparse(self.path).path
            if path.startswith("/v1/flags/"):
                key = path[len("/v1/flags/"):]
                with state.lock:
                    flag = state.flags.get(key)
                    flag = dict(flag) if flag else None
                if flag is None:
                    return self.reply(404, {"error": f"flag `{key}` not found"})
                return self.reply(200, flag)
            if path == "/stub/ingested":
                return self.reply(200, state.summary())
            if path == "/health":
                return self.reply(200, {"ok": True})
            return self.reply(404, {"error": "not found"})

        def do_POST(self):  # noqa: N802
            url = urlparse(self.path)
            raw = self.body()
            if url.path == "/v1/ingest":
                if token and self.headers.get("Authorization") != f"Bearer {token}":
                    return self.reply(401, {"error": "bad ingest token"})
                fmt = parse_qs(url.query).get("format", ["litellm"])[0]
                if fmt != "litellm":
                    return self.reply(400, {"error": f"unknown format {fmt}"})
                try:
                    payloads = parse_litellm_body(raw)
                except (ValueError, UnicodeDecodeError) as e:
                    return self.reply(400, {"error": str(e)})
                state.ingest(payloads)
                return self.reply(200, {"received": len(payloads)})
            if url.path.startswith("/stub/flags/"):
                try:
                    changes = json.loads(raw or b"{}")
                except ValueError as e:
                    return self.reply(400, {"error": str(e)})
                return self.reply(200, state.set_flag(url.path[len("/stub/flags/"):], changes))
            return self.reply(404, {"error": "not found"})

        def log_message(self, *_args):
            pass

    return Handler


def main() -> int:
    p = argparse.ArgumentParser(description="stand-in for evalgate serve's flag and ingest endpoints")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9464)
    p.add_argument("--flag", default="support-bot")
    p.add_argument("--basis-points", type=int, default=5000)
    p.add_argument("--salt", default=None, help="default: the flag key")
    p.add_argument("--always", action="append", default=[], help="always-canary tenant (repeatable)")
    p.add_argument("--never", action="append", default=[], help="never-canary tenant (repeatable)")
    p.add_argument("--baseline", default="support-bot@v41")
    p.add_argument("--canary", default="support-bot@v42")
    p.add_argument("--rollout-id", default="r1")
    p.add_argument("--phase", default="running")
    p.add_argument("--ingest-token", default=None)
    p.add_argument("--out", default=None, help="append ingested payloads here (JSONL)")
    p.add_argument("--schedule", default="", help='"SECONDS:BP,..." split changes after start')
    args = p.parse_args()

    state = State(args)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(state, args.ingest_token))
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)

    def scheduled(at: float, bp: int) -> None:
        time.sleep(at)
        flag = state.set_flag(args.flag, {"basis_points": bp,
                                          "phase": "rolled_back" if bp == 0 else "running"})
        print(f"schedule: {args.flag} -> {bp} bp (generation {flag['generation']})", flush=True)

    for item in filter(None, args.schedule.split(",")):
        at, bp = item.split(":")
        threading.Thread(target=scheduled, args=(float(at), int(bp)), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
