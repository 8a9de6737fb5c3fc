"""The least a Python reverse proxy can do, as the yardstick for the control plane's proxy.

    python benchmarks/bare_proxy.py --upstream 127.0.0.1:PORT --port 8082

A raw ASGI app on uvicorn (httptools, uvloop, no access log, no lifespan, no proxy-headers
middleware) that forwards every POST body to one instance over modelyard's keep-alive pool
(`modelyard.api.upstream`, the cheapest client measured) and answers with its status, content
type and length. No authentication, routing, health checks, metrics or capture: what the
control plane's proxy costs beyond this is what those cost.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from asgi_basics import Answer, App, invocations_app

from modelyard.api.upstream import UpstreamPool


def create_app(host: str, port: int) -> App:
    pool = UpstreamPool()
    address = (host, port)

    async def forward(scope: dict[str, Any], body: bytes) -> Answer:
        content_type = next((v for k, v in scope["headers"] if k == b"content-type"), b"text/csv")
        got = await pool.post(
            address, b"/invocations", b"Content-Type: " + content_type + b"\r\n", body, 60.0
        )
        length = str(len(got.body)).encode()
        return (
            got.status,
            [(b"content-type", got.content_type), (b"content-length", length)],
            got.body,
        )

    return invocations_app(forward)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the instance")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    host, _, port = args.upstream.rpartition(":")
    uvicorn.run(
        create_app(host, int(port)),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
