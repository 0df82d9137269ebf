#!/usr/bin/env python3
"""Tests of the LiteLLM routing hook, stdlib unittest only (LiteLLM need not be installed).

    python3 integrations/litellm/test_evalgate_router.py [-v]

- every vector and cohort vector of fixtures/routing_vectors.json through the hook's routing
  (``bucket``, ``choose_arm``, ``decide`` and ``route_request``);
- the flag cache against a stub ``GET /v1/flags/{key}`` server (http.server in a thread):
  caching, a new generation, fetch failures with and without a known flag, 404, bad bodies,
  one fetch for many concurrent requests;
- the hook's ``async_pre_call_hook``: model rewrite, tags in ``metadata`` and
  ``metadata.requester_metadata``, tenant sources, untouched other models.

Exits non-zero when a test fails (``tests/litellm_hook.rs`` runs it under ``cargo test``).
"""

import asyncio
import json
import logging
import os
import sys
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import evalgate_router as er  # noqa: E402

VECTORS = os.path.join(HERE, "..", "..", "fixtures", "routing_vectors.json")
BASE = "support-bot@v41"
CAN = "support-bot@v42"


# The hook logs every generation change and failed fetch as a warning; keep test output clean
# (assertLogs lowers the level itself where a test checks a warning).
logging.getLogger("evalgate_router").setLevel(logging.CRITICAL)


def load_vectors():
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class StubFlagServer:
    """``GET /v1/flags/{key}`` on a loopback port, answering whatever the test sets.

    ``body`` is the JSON served (or raw bytes), ``status`` the HTTP status, ``delay`` seconds
    slept before answering; ``hits`` counts requests. ``stop()`` closes the port.
    """

    def __init__(self):
        self.body = None
        self.status = 200
        self.delay = 0.0
        self.hits = 0
        self.paths = []
        self.headers = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                stub.hits += 1
                stub.paths.append(self.path)
                stub.headers.append(dict(self.headers.items()))
                if stub.delay:
                    time.sleep(stub.delay)
                raw = stub.body if isinstance(stub.body, bytes) else json.dumps(stub.body).encode()
                try:
                    self.send_response(stub.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out first

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


def flag_body(bp, generation, **extra):
    body = {
        "flag_key": "support-bot",
        "basis_points": bp,
        "generation": generation,
        "salt": "support-bot",
        "always": [],
        "never": [],
        "updated_at": "2026-11-26T06:00:00+00:00",
        "rollout_id": "r1",
        "baseline_model": BASE,
        "canary_model": CAN,
        "phase": "running",
    }
    body.update(extra)
    return body


class RoutingVectors(unittest.TestCase):
    """The contract of fixtures/ROUTING.md, through every layer of the hook's routing."""

    @classmethod
    def setUpClass(cls):
        cls.data = load_vectors()
        cls.settings = er.Settings(flag_key="support-bot")

    def test_vector_file_is_the_full_contract(self):
        self.assertGreaterEqual(len(self.data["vectors"]), 1000)
        self.assertGreaterEqual(len(self.data["cohort_vectors"]), 10)
        self.assertEqual(self.data["splits"][0], 0)
        self.assertEqual(self.data["splits"][-1], 10000)

    def test_buckets(self):
        for v in self.data["vectors"]:
            self.assertEqual(er.bucket(v["salt"], v["tenant"]), v["bucket"], v)

    def test_arms_through_choose_arm_and_decide(self):
        for v in self.data["vectors"]:
            for bp, expected in zip(self.data["splits"], v["arms"]):
                self.assertEqual(er.choose_arm(v["salt"], v["tenant"], bp), expected, (v, bp))
                flag = er.Flag(flag_key="support-bot", basis_points=bp, salt=v["salt"],
                               baseline_model=BASE, canary_model=CAN)
                decision = er.decide(flag, v["tenant"], self.settings)
                self.assertEqual(decision.arm, expected, (v, bp))
                self.assertEqual(decision.model, CAN if expected == "canary" else BASE)

    def test_arms_through_route_request_from_the_flag_json(self):
        # The salt travels in the endpoint's JSON, including the empty salt. The empty tenant is
        # a tenant to the hash, but a request with `user: ""` has none (tested below).
        for v in self.data["vectors"]:
            if v["tenant"] == "":
                continue
            for bp, expected in zip(self.data["splits"], v["arms"]):
                flag = er.Flag.from_json(flag_body(bp, 1, salt=v["salt"]))
                data = {"model": "support-bot", "user": v["tenant"],
                        "messages": [{"role": "user", "content": "hi"}]}
                decision = er.route_request(data, flag, self.settings)
                self.assertEqual(decision.arm, expected, (v, bp))
                self.assertEqual(data["model"], CAN if expected == "canary" else BASE, (v, bp))
                self.assertEqual(data["metadata"]["evalgate_arm"], expected)
                self.assertEqual(data["metadata"]["requester_metadata"]["evalgate_arm"], expected)
                self.assertEqual(data["metadata"]["evalgate_tenant"], v["tenant"])

    def test_cohort_vectors(self):
        for c in self.data["cohort_vectors"]:
            self.assertEqual(
                er.choose_arm(c["salt"], c["tenant"], c["basis_points"], c["always"], c["never"]),
                c["arm"], c)
            flag = er.Flag.from_json(flag_body(c["basis_points"], 7, salt=c["salt"],
                                               always=c["always"], never=c["never"]))
            data = {"model": "support-bot", "metadata": {"tenant_id": c["tenant"]}}
            decision = er.route_request(data, flag, self.settings)
            self.assertEqual(decision.arm, c["arm"], c)
            self.assertEqual(data["model"], CAN if c["arm"] == "canary" else BASE, c)

    def test_salt_defaults_to_the_flag_key(self):
        body = flag_body(5000, 1)
        del body["salt"]
        flag = er.Flag.from_json(body)
        self.assertEqual(flag.effective_salt, "support-bot")
        for v in self.data["vectors"][:50]:
            if v["salt"] == "support-bot":
                self.assertEqual(er.decide(flag, v["tenant"], self.settings).arm, v["arms"][6])


class Decisions(unittest.TestCase):
    def setUp(self):
        self.settings = er.Settings(flag_key="support-bot")

    def test_no_flag_routes_to_the_baseline_of_the_settings(self):
        s = er.Settings(flag_key="support-bot", baseline_model=BASE, canary_model=CAN)
        d = er.decide(None, "tenant-0000", s)
        self.assertEqual((d.arm, d.model, d.reason, d.generation), ("baseline", BASE, "no_flag", None))

    def test_no_flag_and_no_baseline_model_leaves_the_alias(self):
        data = {"model": "support-bot", "user": "tenant-0000"}
        d = er.route_request(data, None, self.settings)
        self.assertEqual((d.arm, d.model), ("baseline", None))
        self.assertEqual(data["model"], "support-bot")
        self.assertEqual(data["metadata"]["evalgate_arm"], "baseline")

    def test_an_empty_user_is_no_tenant(self):
        flag = er.Flag.from_json(flag_body(10000, 3))
        data = {"model": "support-bot", "user": "", "metadata": {"tenant_id": ""}}
        self.assertEqual(er.route_request(data, flag, self.settings).reason, "no_tenant")
        self.assertEqual(er.decide(flag, "", self.settings).arm, "canary")  # "" hashes like any id

    def test_no_tenant_is_baseline(self):
        flag = er.Flag.from_json(flag_body(10000, 3))
        data = {"model": "support-bot", "messages": []}
        d = er.route_request(data, flag, self.settings)
        self.assertEqual((d.arm, d.reason, data["model"]), ("baseline", "no_tenant", BASE))
        self.assertIsNone(data["metadata"]["evalgate_tenant"])

    def test_no_rollout_models_fall_back_to_settings(self):
        flag = er.Flag.from_json(flag_body(10000, 3, rollout_id=None, baseline_model=None,
                                           canary_model=None))
        s = er.Settings(flag_key="support-bot", baseline_model="b@1", canary_model="c@2")
        self.assertEqual(er.decide(flag, "t", s).model, "c@2")
        d = er.decide(flag, "t", self.settings)
        self.assertEqual((d.arm, d.model, d.reason), ("baseline", None, "no_canary_model"))
        self.assertIsNone(d.rollout_id)

    def test_other_models_are_untouched_and_client_tags_removed(self):
        flag = er.Flag.from_json(flag_body(10000, 3))
        data = {"model": CAN, "user": "t",
                "metadata": {"evalgate_arm": "canary", "keep": 1,
                             "requester_metadata": {"evalgate_arm": "canary", "keep": 2}}}
        self.assertIsNone(er.route_request(data, flag, self.settings))
        self.assertEqual(data["model"], CAN)
        self.assertEqual(data["metadata"], {"keep": 1, "requester_metadata": {"keep": 2}})

    def test_client_tags_are_overwritten(self):
        flag = er.Flag.from_json(flag_body(0, 9))
        data = {"model": "support-bot", "user": "t",
                "metadata": {"evalgate_arm": "canary", "evalgate_rollout_id": "forged",
                             "requester_metadata": {"evalgate_arm": "canary"}}}
        er.route_request(data, flag, self.settings)
        for m in (data["metadata"], data["metadata"]["requester_metadata"]):
            self.assertEqual(m["evalgate_arm"], "baseline")
            self.assertEqual(m["evalgate_rollout_id"], "r1")
            self.assertEqual(m["evalgate_flag"], "support-bot")
            self.assertEqual(m["evalgate_generation"], 9)

    def test_tenant_sources_in_order(self):
        class Key:
            team_id = "team-7"
            end_user_id = None

        src = ("user", "metadata.tenant_id", "metadata.evalgate_tenant", "header.X-Tenant-Id",
               "key.end_user_id", "key.team_id")
        self.assertEqual(er.tenant_of({"user": "u", "metadata": {"tenant_id": "m"}}, src), "u")
        self.assertEqual(er.tenant_of({"user": "", "metadata": {"tenant_id": "m"}}, src), "m")
        self.assertEqual(er.tenant_of({"metadata": {"evalgate_tenant": "e"}}, src), "e")
        self.assertEqual(
            er.tenant_of({"metadata": {"headers": {"x-tenant-id": "h"}}}, src), "h")
        self.assertEqual(er.tenant_of({"metadata": {}}, src, key=Key()), "team-7")
        self.assertIsNone(er.tenant_of({"metadata": {}}, src))
        self.assertEqual(er.tenant_of({"metadata": {"tenant_id": 42}}, src), "42")

    def test_routed_alias_can_differ_from_the_flag_key(self):
        s = er.Settings(flag_key="support-bot", routed_model="support")
        flag = er.Flag.from_json(flag_body(10000, 1))
        data = {"model": "support", "user": "t"}
        self.assertEqual(er.route_request(data, flag, s).arm, "canary")
        self.assertEqual(data["model"], CAN)
        self.assertIsNone(er.route_request({"model": "support-bot", "user": "t"}, flag, s))

    def test_bad_flag_bodies_are_rejected(self):
        for bad in ([], {"basis_points": 5}, flag_body(10001, 1), flag_body(-1, 1),
                    flag_body("50", 1), flag_body(True, 1), flag_body(50, "3"),
                    flag_body(50, 1, always="x"), flag_body(50, 1, never=[1])):
            with self.assertRaises(ValueError, msg=bad):
                er.Flag.from_json(bad)

    def test_settings_from_env(self):
        s = er.Settings.from_env({
            "EVALGATE_URL": "http://e:1/", "EVALGATE_FLAG": "f", "EVALGATE_ROUTED_MODEL": "m",
            "EVALGATE_CACHE_SECONDS": "0.5", "EVALGATE_TENANT_FROM": "metadata.org, user",
            "EVALGATE_BASELINE_MODEL": "b", "EVALGATE_CANARY_MODEL": "c", "EVALGATE_TOKEN": "tk"})
        self.assertEqual(s.flag_url, "http://e:1/v1/flags/f")
        self.assertEqual((s.alias, s.cache_seconds, s.tenant_from), ("m", 0.5, ("metadata.org", "user")))
        self.assertEqual((s.baseline_model, s.canary_model, s.token), ("b", "c", "tk"))
        d = er.Settings.from_env({})
        self.assertEqual((d.evalgate_url, d.flag_key, d.alias, d.cache_seconds),
                         ("http://127.0.0.1:9464", "support-bot", "support-bot", 5.0))
        with self.assertRaises(ValueError):
            er.Settings.from_env({"EVALGATE_CACHE_SECONDS": "soon"})


class FlagCacheAgainstAStubServer(unittest.TestCase):
    def setUp(self):
        self.stub = StubFlagServer()
        self.clock = FakeClock()
        self.settings = er.Settings(evalgate_url=self.stub.url, flag_key="support-bot",
                                    cache_seconds=5, timeout_seconds=0.5, token="s3cret")
        self.cache = er.FlagCache(self.settings, clock=self.clock)

    def tearDown(self):
        self.stub.stop()

    def test_fetches_once_per_cache_period(self):
        self.stub.body = flag_body(100, 1)
        self.assertEqual(self.cache.get().basis_points, 100)
        self.assertEqual(self.stub.paths, ["/v1/flags/support-bot"])
        self.assertEqual(self.stub.headers[0].get("Authorization"), "Bearer s3cret")
        self.stub.body = flag_body(5000, 2)
        self.clock.advance(4.9)
        for _ in range(100):
            self.assertEqual(self.cache.get().basis_points, 100)
        self.assertEqual(self.stub.hits, 1)
        self.clock.advance(0.2)
        self.assertEqual(self.cache.get().generation, 2)
        self.assertEqual(self.cache.get().basis_points, 5000)
        self.assertEqual(self.stub.hits, 2)

    def test_new_generation_changes_routing(self):
        self.stub.body = flag_body(10000, 4)
        tenant = "tenant-0000"
        data = {"model": "support-bot", "user": tenant}
        er.route_request(data, self.cache.get(), self.settings)
        self.assertEqual(data["model"], CAN)
        self.stub.body = flag_body(0, 5, phase="rolled_back")  # the rollback
        self.clock.advance(5)
        data = {"model": "support-bot", "user": tenant}
        d = er.route_request(data, self.cache.get(), self.settings)
        self.assertEqual((d.arm, d.generation, data["model"]), ("baseline", 5, BASE))

    def test_fetch_failure_keeps_the_last_known_flag(self):
        self.stub.body = flag_body(2500, 3)
        self.assertEqual(self.cache.get().generation, 3)
        for failure in ("500", "bad json", "bad body", "timeout", "down"):
            with self.subTest(failure=failure):
                self.stub.status, self.stub.body, self.stub.delay = 200, flag_body(2500, 3), 0
                if failure == "500":
                    self.stub.status = 500
                elif failure == "bad json":
                    self.stub.body = b"{not json"
                elif failure == "bad body":
                    self.stub.body = {"flag_key": "support-bot", "basis_points": "lots"}
                elif failure == "timeout":
                    self.stub.delay = 1.0
                self.clock.advance(5)
                hits = self.stub.hits
                flag = self.cache.get()
                self.assertEqual((flag.generation, flag.basis_points), (3, 2500))
                self.assertEqual(self.stub.hits, hits + 1)
                # not retried on every request: the failure also waits a cache period
                self.cache.get()
                self.assertEqual(self.stub.hits, hits + 1)
        self.stub.stop()
        self.clock.advance(5)
        self.assertEqual(self.cache.get().generation, 3)
        self.assertGreaterEqual(self.cache.failures, 5)

    def test_fetch_failure_with_no_flag_known_routes_to_baseline_and_warns(self):
        self.stub.status, self.stub.body = 503, {"error": "starting"}
        with self.assertLogs("evalgate_router", level="WARNING") as logs:
            self.assertIsNone(self.cache.get())
        self.assertIn("no flag known yet", logs.output[0])
        s = er.Settings(evalgate_url=self.stub.url, baseline_model=BASE, canary_model=CAN)
        data = {"model": "support-bot", "user": "tenant-0000"}
        d = er.route_request(data, self.cache.get(), s)
        self.assertEqual((d.arm, d.reason, data["model"]), ("baseline", "no_flag", BASE))
        # evalgate comes up: the next period picks the flag up
        self.stub.status, self.stub.body = 200, flag_body(10000, 1)
        self.clock.advance(5)
        self.assertEqual(self.cache.get().basis_points, 10000)

    def test_unreachable_evalgate_with_no_flag(self):
        self.stub.stop()
        self.assertIsNone(self.cache.get())
        self.assertEqual(self.cache.failures, 1)

    def test_404_clears_the_flag(self):
        self.stub.body = flag_body(10000, 1)
        self.assertIsNotNone(self.cache.get())
        self.stub.status, self.stub.body = 404, {"error": "flag `support-bot` not found"}
        self.clock.advance(5)
        self.assertIsNone(self.cache.get())

    def test_concurrent_requests_share_one_fetch(self):
        self.stub.body = flag_body(5000, 1)
        self.stub.delay = 0.2
        cache = er.FlagCache(self.settings)  # real clock

        async def many():
            return await asyncio.gather(*(cache.aget() for _ in range(50)))

        flags = asyncio.run(many())
        self.assertTrue(all(f is not None and f.generation == 1 for f in flags))
        self.assertEqual(self.stub.hits, 1)

    def test_the_event_loop_keeps_running_during_a_fetch(self):
        self.stub.body = flag_body(5000, 1)
        self.stub.delay = 0.3
        cache = er.FlagCache(self.settings)
        ticks = []

        async def ticker():
            for _ in range(10):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.02)

        async def both():
            await asyncio.gather(cache.aget(), ticker())

        asyncio.run(both())
        self.assertEqual(len(ticks), 10)
        self.assertLess(ticks[-1] - ticks[0], 0.29)  # the ticker did not wait for the fetch


class Hook(unittest.TestCase):
    """``EvalgateRouter.async_pre_call_hook`` as the proxy calls it."""

    def setUp(self):
        self.stub = StubFlagServer()
        self.settings = er.Settings(evalgate_url=self.stub.url, flag_key="support-bot",
                                    cache_seconds=60)
        self.hook = er.EvalgateRouter(self.settings)

    def tearDown(self):
        self.stub.stop()

    def call(self, data, key=None):
        return asyncio.run(self.hook.async_pre_call_hook(key, None, data, "acompletion"))

    def test_routes_and_tags_like_the_proxy_sees_it(self):
        self.stub.body = flag_body(10000, 12)
        # what the proxy hands the hook: the client's metadata plus its requester_metadata snapshot
        data = {"model": "support-bot", "user": "tenant-0042",
                "messages": [{"role": "user", "content": "hi"}],
                "metadata": {"user_api_key_hash": "h", "client": "x",
                             "requester_metadata": {"client": "x"}}}
        out = self.call(data)
        self.assertIs(out, data)
        self.assertEqual(out["model"], CAN)
        want = {"evalgate_arm": "canary", "evalgate_flag": "support-bot",
                "evalgate_rollout_id": "r1", "evalgate_tenant": "tenant-0042",
                "evalgate_generation": 12}
        for m in (out["metadata"], out["metadata"]["requester_metadata"]):
            self.assertEqual({k: m[k] for k in want}, want)
            self.assertEqual(m["client"], "x")
        headers = asyncio.run(self.hook.async_post_call_response_headers_hook(out, None, None))
        self.assertEqual(headers, {"x-evalgate-arm": "canary", "x-evalgate-generation": "12"})

    def test_other_models_do_not_fetch(self):
        self.stub.body = flag_body(10000, 1)
        data = {"model": BASE, "user": "t"}
        self.assertEqual(self.call(data)["model"], BASE)
        self.assertEqual(self.stub.hits, 0)
        self.assertIsNone(asyncio.run(self.hook.async_post_call_response_headers_hook(data, None, None)))

    def test_module_instance_exists(self):
        self.assertIsInstance(er.proxy_handler_instance, er.EvalgateRouter)


if __name__ == "__main__":
    unittest.main()
