"""Production inference: requests lost while an endpoint is updated, cold start from zero, and
what variants, data capture and metrics cost the invocation proxy.

    .venv/bin/python benchmarks/production_inference.py            # 3 runs of 10 s per load
    .venv/bin/python benchmarks/production_inference.py --quick    # 1 run of 3 s

Trains xgboost on scikit-learn's breast-cancer data through modelyard (as endpoints.py does),
then, on one server (it and every model server pinned to core 0; the clients on core 1):

1. Updates under load: 4 client threads send requests back to back through each update
   (blue/green ALL_AT_ONCE, blue/green CANARY with a 2 s bake, rolling one instance at a
   time) of a 2-instance endpoint to a second model; every answer that is not a 200 is lost.
   Target: 0 lost; the update's duration is reported.
2. Cold start: an endpoint scaled to zero (min 0, released after 1 s idle) is sent one
   request; its latency against the model setup time (start → first /ping) of the instance
   that answered it. Target: ≤ setup time + 1 s.
3. Proxy cost: wrk at c=1 and c=32 against a plain one-variant endpoint of two instances and
   against one with two weighted variants of one instance each, data capture of every request
   and /metrics counting, interleaved.
   Targets: p50 added at c=1 ≤ 0.2 ms; req/s ≥ 90% of the plain endpoint's.
4. Adaptive batching: the same at c=1 and c=32, one instance without and with batching (64
   rows, 2 ms). Target: no worse p50 at c=1; the gain at c=32 is reported.

Prints the tables and writes benchmarks/results/production-inference[-quick].json.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

import httpx
from common import WORK, Server, install_cleanup, machine_info, median, met, say, table
from common import write_results as write
from endpoints import (
    SERVER_CPUS,
    Target,
    check_wrk,
    lua_script,
    pin_tree,
    run_wrk,
    train,
)

UPDATES = {
    "blue/green, all at once": {},
    "blue/green, canary 50% + 2 s bake": {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 2,
            }
        }
    },
    "rolling, 1 instance at a time": {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 0,
        }
    },
}


class Load:
    """Client threads sending one CSV row back to back; counts answers by status."""

    def __init__(self, url: str, token: str, body: str, threads: int = 4) -> None:
        self.url, self.body = url, body
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                try:
                    status = http.post(
                        self.url, content=self.body, headers=self.headers
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                self.statuses[status] = self.statuses.get(status, 0) + 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def updates(server: Server, session: Any, estimator: Any, body: str) -> list[dict[str, Any]]:
    import modelyard as my

    models = [estimator.create_model().create() for _ in range(2)]
    results = []
    for number, (name, policy) in enumerate(UPDATES.items()):
        endpoint = f"update-{number}"
        session.endpoint_from_production_variants(
            endpoint, [my.production_variant(models[0], initial_instance_count=2)]
        )
        session.client.post(
            "/api/v1/endpoint-configs",
            json={
                "name": f"{endpoint}-next",
                "production_variants": [my.production_variant(models[1], initial_instance_count=2)],
            },
        )
        pin_tree(server.proc.pid, SERVER_CPUS)  # type: ignore[union-attr]
        url = f"{server.url}/endpoints/{endpoint}/invocations"
        with Load(url, server.token, body) as load:
            time.sleep(1)
            started = time.perf_counter()
            session.update_endpoint(endpoint, f"{endpoint}-next", policy or None)
            seconds = time.perf_counter() - started
            time.sleep(1)
        total = sum(load.statuses.values())
        lost = total - load.statuses.get(200, 0)
        say(f"  {name}: {total} requests, {lost} lost, update {seconds:.1f}s")
        results.append({"update": name, "requests": total, "lost": lost, "seconds": seconds})
        session.delete_endpoint(endpoint)
        session.wait_for_endpoint_deleted(endpoint)
    return results


def cold_starts(server: Server, session: Any, estimator: Any, body: str, count: int) -> list[dict]:
    import modelyard as my

    model = estimator.create_model().create()
    session.endpoint_from_production_variants("cold", [my.production_variant(model)])
    session.put_scaling_policy(
        "cold", min_capacity=0, max_capacity=1, target_value=1, scale_to_zero_after_seconds=1
    )
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "text/csv"}
    results = []
    for i in range(count):
        while session.describe_endpoint("cold")["instances"]:
            time.sleep(0.2)
        started = time.perf_counter()
        answer = httpx.post(
            f"{server.url}/endpoints/cold/invocations", content=body, headers=headers, timeout=120
        )
        latency = time.perf_counter() - started
        (instance,) = session.describe_endpoint("cold")["instances"]
        setup = instance["model_setup_seconds"]
        say(
            f"  cold start {i + 1}/{count}: answered {answer.status_code} after {latency:.2f}s "
            f"(model setup {setup:.2f}s)"
        )
        results.append({"status": answer.status_code, "latency": latency, "setup": setup})
    session.delete_endpoint("cold")
    return results


def proxy_cost(
    server: Server, session: Any, estimator: Any, body: str, seconds: float, runs: int
) -> dict[str, dict[int, list[dict[str, float]]]]:
    import modelyard as my

    model = estimator.create_model().create()
    # Two instances each, so both alternate between two model servers alike.
    session.endpoint_from_production_variants(
        "plain", [my.production_variant(model, initial_instance_count=2)]
    )
    session.client.post(
        "/api/v1/endpoint-configs",
        json={
            "name": "dressed",
            "production_variants": [
                my.production_variant(model, variant_name="a", initial_weight=1),
                my.production_variant(model, variant_name="b", initial_weight=1),
            ],
            "data_capture_config": {
                "destination_s3_uri": f"s3://{session.default_bucket()}/bench-capture"
            },
        },
    )
    session.client.post(
        "/api/v1/endpoints", json={"name": "dressed", "endpoint_config_name": "dressed"}
    )
    session.wait_for_endpoint("dressed")
    return interleaved(server, ("plain", "dressed"), body, seconds, runs)


def batching(
    server: Server, session: Any, estimator: Any, body: str, seconds: float, runs: int
) -> dict[str, dict[int, list[dict[str, float]]]]:
    import modelyard as my

    model = estimator.create_model().create()
    session.endpoint_from_production_variants("unbatched", [my.production_variant(model)])
    variant = my.production_variant(model)
    variant["batching"] = {"max_batch_size": 64, "max_wait_ms": 2}
    session.endpoint_from_production_variants("batched", [variant])
    return interleaved(server, ("unbatched", "batched"), body, seconds, runs)


def interleaved(
    server: Server, endpoints: tuple[str, ...], body: str, seconds: float, runs: int
) -> dict[str, dict[int, list[dict[str, float]]]]:
    """wrk at c=1 and c=32 against each endpoint, runs interleaved so noise hits all alike."""
    pin_tree(server.proc.pid, SERVER_CPUS)  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {server.token}"}
    targets = [
        Target(name, f"{server.url}/endpoints/{name}/invocations", headers, body)
        for name in endpoints
    ]
    work = WORK / "production-inference"
    work.mkdir(parents=True, exist_ok=True)
    scripts = {t.name: lua_script(t, work / f"{t.name}.lua") for t in targets}
    results: dict[str, dict[int, list[dict[str, float]]]] = {
        t.name: {1: [], 32: []} for t in targets
    }
    for connections in (1, 32):
        for target in targets:
            run_wrk(target, connections, min(2.0, seconds), scripts[target.name])  # warm-up
        for i in range(runs):
            for target in targets:
                result = run_wrk(target, connections, seconds, scripts[target.name])
                results[target.name][connections].append(result)
                say(
                    f"  c={connections} run {i + 1}/{runs} {target.name}: {result['rps']:.0f} "
                    f"req/s, p50 {result['p50_ms']:.3f} ms"
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 run of 3 s, 2 cold starts")
    args = parser.parse_args()
    seconds, runs, colds = (3.0, 1, 2) if args.quick else (10.0, 3, 5)
    check_wrk()
    install_cleanup()
    info = machine_info()
    work = WORK / "production-inference" / f"run-{int(time.time())}"
    work.mkdir(parents=True)
    server = Server(work / "home", cpus=SERVER_CPUS).start()
    session = server.session()
    say(f"server at {server.url}; training the breast-cancer model ...")
    estimator, rows = train(server, session, work / "data")
    body = ",".join(f"{v:.6g}" for v in rows[0])

    say("updates under load")
    updated = updates(server, session, estimator, body)
    say("cold starts from zero")
    cold = cold_starts(server, session, estimator, body, colds)
    say("proxy cost: plain endpoint against variants + capture + metrics")
    load = proxy_cost(server, session, estimator, body, seconds, runs)
    say("adaptive batching off and on")
    load.update(batching(server, session, estimator, body, seconds, runs))
    server.stop()

    summary = {
        name: {
            c: {k: median([r[k] for r in rs]) for k in ("rps", "p50_ms", "p99_ms")}
            for c, rs in by_c.items()
        }
        for name, by_c in load.items()
    }
    added = summary["dressed"][1]["p50_ms"] - summary["plain"][1]["p50_ms"]
    ratio = summary["dressed"][32]["rps"] / summary["plain"][32]["rps"]
    worst_cold = max(c["latency"] - c["setup"] for c in cold)
    batched_p50 = summary["batched"][1]["p50_ms"] - summary["unbatched"][1]["p50_ms"]
    batched_rps = summary["batched"][32]["rps"] / summary["unbatched"][32]["rps"]
    checks = [
        {
            "check": "requests lost during updates = 0",
            "value": sum(u["lost"] for u in updated),
            "ok": all(u["lost"] == 0 for u in updated),
        },
        {
            "check": "cold start ≤ model setup + 1 s",
            "value": f"+{worst_cold:.2f} s (worst)",
            "ok": worst_cold <= 1.0 and all(c["status"] == 200 for c in cold),
        },
        {
            "check": "p50 added at c=1 by variants + capture + metrics ≤ 0.2 ms",
            "value": f"{added:+.3f} ms",
            "ok": added <= 0.2,
        },
        {
            "check": "req/s at c=32 with them ≥ 90% of plain",
            "value": f"{ratio:.0%}",
            "ok": ratio >= 0.9,
        },
        {
            "check": "batching: p50 at c=1 no worse than without",
            "value": f"{batched_p50:+.3f} ms",
            "ok": batched_p50 <= 0.05,  # (within wrk's resolution and run-to-run noise)
        },
        {
            "check": "batching: req/s at c=32 against without (not a target)",
            "value": f"{batched_rps:.2f}×",
            "ok": None,
        },
    ]
    print()
    print(
        table(
            ["update", "requests", "lost", "duration s"],
            [[u["update"], u["requests"], u["lost"], f"{u['seconds']:.1f}"] for u in updated],
        )
    )
    print()
    print(
        table(
            ["cold start", "status", "latency s", "model setup s", "difference s"],
            [
                [
                    i + 1,
                    c["status"],
                    f"{c['latency']:.2f}",
                    f"{c['setup']:.2f}",
                    f"{c['latency'] - c['setup']:+.2f}",
                ]
                for i, c in enumerate(cold)
            ],
        )
    )
    print()
    print(
        table(
            ["endpoint", "connections", "req/s", "p50 ms", "p99 ms"],
            [
                [name, c, f"{s['rps']:.0f}", f"{s['p50_ms']:.3f}", f"{s['p99_ms']:.3f}"]
                for name, by_c in summary.items()
                for c, s in by_c.items()
            ],
        )
    )
    print()
    print(
        table(
            ["check", "value", "target"],
            [[c["check"], c["value"], "-" if c["ok"] is None else met(c["ok"])] for c in checks],
        )
    )
    path = write(
        "production-inference-quick" if args.quick else "production-inference",
        {
            "machine": info,
            "updates": updated,
            "cold_starts": cold,
            "load": load,
            "summary": summary,
            "checks": checks,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
