#!/usr/bin/env python3
"""Load generator for evalgate's LiteLLM rig: chat completions for many tenants through the
proxy at a fixed rate, recording which model served each response (stdlib only).

    python3 loadgen.py --url http://127.0.0.1:4000 --key sk-test --model support-bot \\
        --requests 600 --rate 20 --tenants 200 --slice 5 [--out responses.jsonl]

Each request is ``POST {url}/v1/chat/completions`` with ``model`` (the routed alias), ``user`` =
the tenant (``tenant-0000`` … round-robin over ``--tenants``; ``--tenant-in metadata`` sends
``metadata.tenant_id`` instead) and one user message. Requests are scheduled open-loop at
``--rate`` per second (0 = as fast as the ``--concurrency`` workers go) and run until
``--requests`` are sent or ``--duration`` seconds have passed, whichever comes first.

Which model served a response comes from LiteLLM itself: the ``x-litellm-model-group`` response
header (else the response body's ``model``). The arm is ``canary`` when that is
``--canary-model``, ``baseline`` when it is ``--baseline-model``, else the hook's
``x-evalgate-arm`` header, else ``unknown``. Errors (HTTP status >= 400 or a transport error)
count per slice and are not given an arm (``errors_by_hook_arm`` counts them by the hook's
``x-evalgate-arm`` header, which LiteLLM also sends on errors; ``None`` for transport errors).

Output: one JSON object on stdout (progress goes to stderr)::

    {"requests": 600, "ok": 597, "errors": 3, "elapsed_s": 30.1, "rps": 19.9,
     "latency_ms": {"p50": …, "p95": …, "p99": …, "max": …},
     "by_model_group": {"support-bot@v41": 300, …}, "by_arm": {"baseline": …, "canary": …},
     "canary_share": 0.5, "errors_by_status": {"500": 3}, "errors_by_hook_arm": {"canary": 2, …},
     "slices": [{"start_s": 0, "end_s": 5, "requests": 100, "ok": 100, "errors": 0,
                 "baseline": 52, "canary": 48, "unknown": 0, "canary_share": 0.48}, …],
     "canary_share_last_slice": 0.0, "canary_zero_since_s": 21.3,
     "stopped": "requests" | "duration" | "canary_zero", "expectation": null | {…}}

``canary_share`` is canary / (baseline + canary + unknown) among successful responses;
``canary_zero_since_s`` is the start time (seconds from the first request) of the final run of
successful responses none of which came from the canary, or null if the last one did.

``--stop-when-canary-zero-for S`` ends the run early once the last S seconds had successful
responses and none from the canary (e.g. after a rollback). ``--expect-canary-share-at-most X``
checks the final slice: its canary share must be ``<= X`` (and it must hold a response).

Exit codes: 0 the run finished (and the expectation held), 1 the expectation failed, 2 bad
arguments or the proxy was unreachable (no request got an HTTP answer).
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlparse

QUESTION = "How do I reset my password?"


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return round(sorted_values[index], 2)


class Client:
    """One keep-alive connection to the proxy (one per worker thread)."""

    def __init__(self, url, key, timeout):
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"--url {url!r} is not an http(s) URL")
        self.https = parsed.scheme == "https"
        self.host = parsed.hostname
        self.port = parsed.port or (443 if self.https else 80)
        self.path = parsed.path.rstrip("/") + "/v1/chat/completions"
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.timeout = timeout
        self.conn = None

    def post(self, body):
        """Returns (status, headers dict with lowercase names, parsed JSON or None)."""
        raw = json.dumps(body).encode()
        for attempt in (0, 1):  # one reconnect when a kept-alive connection was closed
            if self.conn is None:
                cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self.conn = cls(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", self.path, body=raw, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
                headers = {k.lower(): v for k, v in response.getheaders()}
                try:
                    parsed = json.loads(data)
                except ValueError:
                    parsed = None
                return response.status, headers, parsed
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def classify(status, headers, body, args):
    """(model_group, arm) of one answer; arm None for errors."""
    if status >= 400:
        return headers.get("x-litellm-model-group"), None
    group = headers.get("x-litellm-model-group") or (body or {}).get("model")
    if group == args.canary_model:
        return group, "canary"
    if group == args.baseline_model:
        return group, "baseline"
    arm = headers.get("x-evalgate-arm")
    return group, arm if arm in ("baseline", "canary") else "unknown"


def run(args):
    records = []
    lock = threading.Lock()
    next_index = [0]
    start = time.monotonic() + 0.05
    deadline = start + args.duration if args.duration else None
    stop = threading.Event()
    stopped = ["requests"]
    out = open(args.out, "w", encoding="utf-8") if args.out else None

    def take():
        with lock:
            if stop.is_set() or next_index[0] >= args.requests:
                return None
            i = next_index[0]
            next_index[0] += 1
            return i

    def worker():
        client = Client(args.url, args.key, args.timeout)
        while True:
            i = take()
            if i is None:
                return
            due = start + (i / args.rate if args.rate > 0 else 0)
            if deadline is not None and due >= deadline:
                stopped[0] = "duration"
                stop.set()
                return
            delay = due - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    return
            tenant = f"{args.tenant_prefix}{i % args.tenants:04d}"
            body = {"model": args.model,
                    "messages": [{"role": "user", "content": args.question}]}
            if args.tenant_in == "user":
                body["user"] = tenant
            else:
                body["metadata"] = {"tenant_id": tenant}
            sent = time.monotonic()
            sent_unix = time.time()
            try:
                status, headers, parsed = client.post(body)
                transport_error = None
            except (http.client.HTTPException, OSError) as e:
                status, headers, parsed, transport_error = 0, {}, None, str(e)
            done = time.monotonic()
            group, arm = classify(status, headers, parsed, args) if status else (None, None)
            record = {
                "i": i, "tenant": tenant, "t_s": round(sent - start, 4),
                "sent_unix": round(sent_unix, 4),
                "latency_ms": round((done - sent) * 1000, 2), "status": status,
                "model_group": group, "model": (parsed or {}).get("model") if status < 400 else None,
                "arm": arm, "hook_arm": headers.get("x-evalgate-arm"),
                "generation": headers.get("x-evalgate-generation"),
                "call_id": headers.get("x-litellm-call-id"),
            }
            if transport_error:
                record["error"] = transport_error
            elif status >= 400:
                record["error"] = ((parsed or {}).get("error") or {}).get("message", "")[:300]
            with lock:
                records.append(record)
                if out:
                    out.write(json.dumps(record) + "\n")
                if args.stop_when_canary_zero_for and zero_for(records, done - start) >= args.stop_when_canary_zero_for:
                    stopped[0] = "canary_zero"
                    stop.set()

    def zero_for(recs, now_s):
        """Seconds since the start of the final run of non-canary successes (0 if none)."""
        since = zero_since(recs)
        return 0.0 if since is None else now_s - since

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    last_report = time.monotonic()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.5)
        if time.monotonic() - last_report >= args.progress and records:
            last_report = time.monotonic()
            with lock:
                tail = [r for r in records if r["arm"]][-50:]
                n = len(records)
            share = sum(r["arm"] == "canary" for r in tail) / len(tail) if tail else None
            print(f"loadgen: {n} responses, canary share of the last {len(tail)}: {share}",
                  file=sys.stderr, flush=True)
    if out:
        out.close()
    end = time.monotonic()
    return summarize(sorted(records, key=lambda r: r["t_s"]), end - start, stopped[0], args)


def zero_since(records):
    """t_s of the first success of the final run of successes without a canary, or None."""
    since = None
    for r in sorted((r for r in records if r["arm"]), key=lambda r: r["t_s"]):
        if r["arm"] == "canary":
            since = None
        elif since is None:
            since = r["t_s"]
    return since


def share(canary, total):
    return round(canary / total, 4) if total else None


def summarize(records, elapsed, stopped, args):
    ok = [r for r in records if r["arm"]]
    lat = sorted(r["latency_ms"] for r in records if r["status"])
    slices = []
    horizon = max([r["t_s"] for r in records] + [0.0])
    n_slices = int(horizon // args.slice) + 1 if records else 0
    for k in range(n_slices):
        lo, hi = k * args.slice, (k + 1) * args.slice
        inside = [r for r in records if lo <= r["t_s"] < hi]
        arms = Counter(r["arm"] for r in inside if r["arm"])
        served = sum(arms.values())
        slices.append({
            "start_s": round(lo, 3), "end_s": round(hi, 3), "requests": len(inside),
            "ok": served, "errors": len(inside) - served, "baseline": arms["baseline"],
            "canary": arms["canary"], "unknown": arms["unknown"],
            "canary_share": share(arms["canary"], served),
        })
    canary = sum(r["arm"] == "canary" for r in ok)
    last = next((s for s in reversed(slices) if s["ok"]), None)
    summary = {
        "requests": len(records), "ok": len(ok), "errors": len(records) - len(ok),
        "elapsed_s": round(elapsed, 3), "rps": round(len(records) / elapsed, 2) if elapsed > 0 else None,
        "latency_ms": {"p50": percentile(lat, 0.5), "p95": percentile(lat, 0.95),
                       "p99": percentile(lat, 0.99), "max": lat[-1] if lat else None},
        "by_model_group": dict(Counter(str(r["model_group"]) for r in ok)),
        "by_arm": dict(Counter(r["arm"] for r in ok)),
        "canary_share": share(canary, len(ok)),
        "errors_by_status": dict(Counter(str(r["status"]) for r in records if not r["arm"])),
        "errors_by_hook_arm": dict(Counter(str(r["hook_arm"]) for r in records if not r["arm"])),
        "slices": slices,
        "canary_share_last_slice": last["canary_share"] if last else None,
        "canary_zero_since_s": zero_since(records),
        "stopped": stopped,
        "expectation": None,
    }
    if args.expect_canary_share_at_most is not None:
        got = summary["canary_share_last_slice"]
        summary["expectation"] = {
            "canary_share_last_slice_at_most": args.expect_canary_share_at_most,
            "got": got, "met": got is not None and got <= args.expect_canary_share_at_most,
        }
    return summary


def parse_args(argv):
    p = argparse.ArgumentParser(description="chat completions through a LiteLLM proxy, by tenant, "
                                            "with the canary share per time slice (JSON on stdout)")
    p.add_argument("--url", default="http://127.0.0.1:4000", help="proxy base URL")
    p.add_argument("--key", default=os.environ.get("LITELLM_MASTER_KEY"),
                   help="proxy API key (default $LITELLM_MASTER_KEY)")
    p.add_argument("--model", default="support-bot", help="the routed alias to call")
    p.add_argument("--baseline-model", default="support-bot@v41")
    p.add_argument("--canary-model", default="support-bot@v42")
    p.add_argument("--requests", type=int, default=100, help="requests to send at most")
    p.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0 = no limit)")
    p.add_argument("--rate", type=float, default=10, help="requests per second (0 = unthrottled)")
    p.add_argument("--concurrency", type=int, default=8, help="worker threads")
    p.add_argument("--tenants", type=int, default=100, help="distinct tenants, round-robin")
    p.add_argument("--tenant-prefix", default="tenant-")
    p.add_argument("--tenant-in", choices=("user", "metadata"), default="user")
    p.add_argument("--question", default=QUESTION)
    p.add_argument("--slice", type=float, default=5.0, help="time slice width in seconds")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    p.add_argument("--out", help="write one JSON line per response here")
    p.add_argument("--stop-when-canary-zero-for", type=float, default=0, metavar="SECONDS")
    p.add_argument("--expect-canary-share-at-most", type=float, default=None, metavar="FRACTION")
    p.add_argument("--progress", type=float, default=5.0, help="seconds between stderr progress lines")
    args = p.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.tenants < 1 or args.slice <= 0:
        p.error("--requests, --concurrency, --tenants and --slice must be positive")
    if args.rate < 0:
        p.error("--rate must be >= 0")
    return args


def main(argv=None):
    try:
        args = parse_args(argv)
        Client(args.url, args.key, args.timeout)  # validates the URL
    except ValueError as e:
        print(f"loadgen: {e}", file=sys.stderr)
        return 2
    summary = run(args)
    print(json.dumps(summary), flush=True)
    if summary["requests"] == 0 or summary["errors_by_status"].get("0") == summary["requests"]:
        print("loadgen: no request got an HTTP answer from the proxy", file=sys.stderr)
        return 2
    if summary["expectation"] is not None and not summary["expectation"]["met"]:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
