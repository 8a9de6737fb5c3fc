"""The model-server process: one per endpoint instance, SageMaker's inference contract.

    python -m modelyard.runtime.serving --model-data URI_OR_PATH --algorithm NAME \\
        [--host 127.0.0.1] [--port 8080] [--work-dir DIR] [--storage-url URL] [--max-body-mb 100]

--model-data is `s3://bucket/key/model.tar.gz` (fetched with the object store at --storage-url,
default the configured store), a local model.tar.gz, or an already-extracted model directory.
The model is loaded before the socket is bound, so /ping answers 200 as soon as anything
answers; one line "model server listening on http://HOST:PORT (algorithm NAME)" goes to stdout
when the server accepts connections (with --port 0 it names the port the OS picked).

With --multi-model, --model-data is an s3:// prefix and each request's TargetModel header
names the model.tar.gz under it to use (runtime.multi_model: loaded on first use, evicted
least recently used).

Routes:
    GET  /ping                   200, empty body
    POST /invocations            decode by Content-Type, predict, encode by Accept
    GET  /execution-parameters   what SageMaker batch transform asks the container
    GET  /metrics                requests, latency, setup time (and the model cache) for Prometheus
    GET  /models                 a multi-model server's loaded models, least recently used first

The app is a raw ASGI callable run by uvicorn (httptools, uvloop, no access log, no lifespan):
no framework routing or middleware sits on the hot path. Small requests are decoded, predicted
and encoded inline on the event loop (a thread hop costs more than a one-row prediction); big
bodies go to one worker thread so /ping keeps answering while a batch is predicted, and so do
small ones while the model is slow (its last prediction took over INLINE_SECONDS): a health
check must not mistake a busy instance for a stuck one.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from modelyard.errors import InvalidRequest, ModelyardError, NotFound
from modelyard.runtime import codecs
from modelyard.runtime.multi_model import TARGET_MODEL_HEADERS, ModelCache
from modelyard.runtime.server_metrics import ServerMetrics

DEFAULT_PORT = 8080
DEFAULT_MAX_BODY_MB = 100.0
"""SageMaker caps real-time payloads at 6 MB; a local server can afford more."""
INLINE_BYTES = 64 * 1024
INLINE_SECONDS = 0.05
"""Bodies smaller than this are handled on the event loop; bigger ones on a worker thread."""
EXECUTION_PARAMETERS = {
    "MaxConcurrentTransforms": 1,
    "BatchStrategy": "MULTI_RECORD",
    "MaxPayloadInMB": 6,
}

ASGIApp = Callable[
    [
        dict[str, Any],
        Callable[[], Awaitable[dict[str, Any]]],
        Callable[[dict[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class PayloadTooLarge(ModelyardError):
    status_code = 413
    code = "PayloadTooLarge"


class MethodNotAllowed(ModelyardError):
    status_code = 405
    code = "MethodNotAllowed"


class ModelError(ModelyardError):
    """SageMaker's ModelError: the model (here, loading it) failed, not the request."""

    status_code = 424
    code = "ModelError"


# --------------------------------------------------------------------------------------------
# model loading


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a model tarball into dest, refusing absolute paths and `..` members."""
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise InvalidRequest(f"model data {archive} is not a readable tar archive: {exc}") from None
    with tar:
        for member in tar.getmembers():
            name = member.name
            parts = PurePosixPath(name).parts
            if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise InvalidRequest(
                    f"model archive {archive.name} has an unsafe member path {name!r}"
                )
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        try:
            # The "data" filter also refuses links leaving dest, devices, and setuid bits.
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as exc:
            raise InvalidRequest(f"model archive {archive.name} is unsafe: {exc}") from None


def fetch_model(model_data: str, work_dir: Path, storage_url: str | None = None) -> Path:
    """Materialize --model-data as an extracted model directory; returns that directory."""
    if model_data.startswith("s3://"):
        from modelyard.storage import open_store, parse_s3_uri

        if storage_url is None:
            from modelyard.settings import Settings

            storage_url = Settings().resolved_storage_url
        bucket, key = parse_s3_uri(model_data)
        if not key or key.endswith("/"):
            raise InvalidRequest(f"model data {model_data} must name a model.tar.gz object")
        archive = work_dir / "model.tar.gz"
        open_store(storage_url).download_file(bucket, key, archive)
    else:
        path = Path(
            model_data[len("file://") :] if model_data.startswith("file://") else model_data
        )
        if path.is_dir():
            return path
        if not path.is_file():
            raise NotFound(f"model data {model_data} does not exist")
        archive = path
    return fetch_local(archive, work_dir)


def fetch_local(archive: Path, work_dir: Path) -> Path:
    """Extract a local model.tar.gz into work_dir/model; returns that directory."""
    model_dir = work_dir / "model"
    _safe_extract(archive, model_dir)
    return model_dir


# Built-ins whose library imports scikit-learn only to offer its own sklearn-style estimator
# classes: xgboost's import of it (and through it of scipy.stats and pandas) is 1.4 of the
# 1.9 s a model server takes to load a model on one core, and serving a booster needs none
# of it. A name set to None in sys.modules makes its import fail, which these libraries
# take as "not installed".
SERVED_WITHOUT = {"xgboost": ("sklearn",), "lightgbm": ("sklearn",)}


@contextmanager
def _hidden(modules: tuple[str, ...]) -> Iterator[None]:
    hidden = [name for name in modules if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]  # importable again for whoever needs it later


def serving_algorithm(name: str) -> Any:
    """A built-in algorithm, imported for serving only (see SERVED_WITHOUT)."""
    from modelyard.algorithms.registry import get_algorithm

    with _hidden(SERVED_WITHOUT.get(name, ())):
        return get_algorithm(name)


def load_model(
    model_data: str, algorithm_name: str, work_dir: Path, storage_url: str | None = None
) -> tuple[Any, Any]:
    """Fetch, extract and load a model; returns (algorithm, model)."""
    algorithm = serving_algorithm(algorithm_name)
    model_dir = fetch_model(model_data, work_dir, storage_url)
    return algorithm, algorithm.load(model_dir)


def load_user_handler(args: argparse.Namespace, work_dir: Path) -> Handler:
    """Load a model served by the user's inference code (SageMaker's framework containers)."""
    return user_handler_builder(args, work_dir)(
        fetch_model(args.model_data, work_dir, args.storage_url)
    )


def user_handler_builder(args: argparse.Namespace, work_dir: Path) -> Callable[[Path], Handler]:
    """build(model directory) -> its handler, with the user's inference code: the --source-dir
    code (fetched once, shared by every model) or else the model's own code/<entry point>."""
    from modelyard.runtime.inference_handlers import UserHandlers, import_user_module

    framework = None if args.framework == "python" else args.framework
    entry_point = args.entry_point or "inference.py"
    shared = None
    if args.source_dir:
        fetch_model(args.source_dir, work_dir / "code", args.storage_url)
        code_dir = work_dir / "code" / "model"  # fetch_model extracts into <dir>/model
        use_requirements(code_dir, args.envs_dir or work_dir / "envs")
        shared = import_user_module(code_dir, entry_point)

    def build(model_dir: Path) -> Handler:
        module = shared
        if module is None and (model_dir / "code" / entry_point).is_file():
            use_requirements(model_dir / "code", args.envs_dir or work_dir / "envs")
            module = import_user_module(model_dir / "code", entry_point)
        elif module is None and args.entry_point:
            raise NotFound(
                f"inference entry point {args.entry_point!r} is not in the model's code/"
            )
        return UserHandlers(module, framework, model_dir).handle

    return build


def use_requirements(code_dir: Path, envs_dir: Path) -> None:
    """Install the code's requirements.txt (cached, as for training) and import from there."""
    from modelyard.runtime.requirements import environment_for

    requirements = code_dir / "requirements.txt"
    if not requirements.is_file():
        return
    python = environment_for(requirements, envs_dir, lambda line: print(line, flush=True))
    site_packages = next((python.parent.parent / "lib").glob("python*/site-packages"))
    sys.path.insert(0, str(site_packages))


# --------------------------------------------------------------------------------------------
# the ASGI app


def _error_body(exc: ModelyardError) -> bytes:
    return json.dumps({"error": exc.to_dict()}).encode()


Handler = Callable[[bytes, "str | None", "str | None"], tuple[bytes, bytes]]
BatchHandler = Callable[[bytes, "str | None", "str | None"], Awaitable[tuple[bytes, bytes]]]
"""handle(body, content_type, accept) -> (answer, its content type)."""


def create_app(algorithm: Any, model: Any, *, max_body_bytes: int | None = None) -> ASGIApp:
    """The raw ASGI app serving one loaded built-in model (routes: the module docstring)."""
    return create_handler_app(builtin_handler(algorithm, model), max_body_bytes=max_body_bytes)


def _builtin_steps(algorithm: Any, model: Any) -> tuple[Any, Any]:
    """(prepare, finish) around a built-in's predict: prepare decodes by Content-Type, checks
    the feature count and the Accept header (before the model runs); finish encodes."""
    expected = algorithm.num_features(model)
    decode = codecs.decode
    negotiate = codecs.negotiate
    encode = codecs.encode
    media_type = codecs.media_type
    csv = codecs.CSV
    type_headers: dict[str, bytes] = {t: t.encode() for t in codecs.ACCEPT_TYPES}

    def prepare(body: bytes, content_type: str | None, accept: str | None) -> tuple[Any, str]:
        features = decode(body, content_type)
        if expected is not None and features.shape[1] != expected:
            raise InvalidRequest(
                f"expected {expected} features per row, got {features.shape[1]} (row 1)",
                {"expected": expected, "got": int(features.shape[1]), "row": 1},
            )
        request_type = media_type(content_type) if content_type else csv
        negotiate(accept, request_type)  # a bad Accept fails before the model runs
        return features, request_type

    def finish(prediction: Any, accept: str | None, request_type: str) -> tuple[bytes, bytes]:
        out, out_type = encode(prediction, accept, request_type)
        return out, type_headers[out_type]

    return prepare, finish


def builtin_handler(algorithm: Any, model: Any) -> Handler:
    """Decode by Content-Type, check the feature count, predict, encode by Accept."""
    prepare, finish = _builtin_steps(algorithm, model)
    predict = algorithm.predict

    def handle(body: bytes, content_type: str | None, accept: str | None) -> tuple[bytes, bytes]:
        features, request_type = prepare(body, content_type, accept)
        return finish(predict(model, features), accept, request_type)  # type: ignore[no-any-return]

    return handle


def batched_handler(
    algorithm: Any,
    model: Any,
    batcher_args: dict[str, Any],
    in_flight: Callable[[], int] | None = None,
) -> BatchHandler:
    """builtin_handler's steps, with the predict shared by requests that arrive together."""
    from modelyard.runtime.batching import Batcher

    prepare, finish = _builtin_steps(algorithm, model)
    batcher = Batcher(
        lambda rows: algorithm.predict(model, rows), **batcher_args, in_flight=in_flight
    )

    async def handle(
        body: bytes, content_type: str | None, accept: str | None
    ) -> tuple[bytes, bytes]:
        features, request_type = prepare(body, content_type, accept)
        return finish(await batcher.predict(features), accept, request_type)  # type: ignore[no-any-return]

    return handle


def create_handler_app(
    handle: Handler | None,
    *,
    max_body_bytes: int | None = None,
    batched: BatchHandler | None = None,
    cache: ModelCache | None = None,
    metrics: ServerMetrics | None = None,
) -> ASGIApp:
    """The raw ASGI app around one request handler, or around the handlers of a multi-model
    cache (see the module docstring for the routes)."""
    limit = int(DEFAULT_MAX_BODY_MB * 1024 * 1024) if max_body_bytes is None else max_body_bytes
    metrics = metrics or ServerMetrics()
    metrics.cache = cache
    observe = metrics.observe
    text_type = b"text/plain; version=0.0.4; charset=utf-8"
    # One worker thread for big bodies: batch requests queue rather than oversubscribe the
    # cores (the model's own predict is usually multithreaded already).
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-predict")
    json_type = b"application/json"
    ping_start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-length", b"0")],
    }
    empty_body = {"type": "http.response.body", "body": b""}
    params_body = json.dumps(EXECUTION_PARAMETERS).encode()
    inline = True  # small requests run on the event loop while predictions stay quick

    async def respond(send: Any, status: int, body: bytes, content_type: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def fail(send: Any, exc: ModelyardError) -> None:
        await respond(send, exc.status_code, _error_body(exc), json_type)

    async def invocations(scope: dict[str, Any], receive: Any, send: Any) -> None:
        content_type = accept = target = None
        length = -1
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
            elif name in TARGET_MODEL_HEADERS:
                target = value.decode("latin-1")
        if length > limit:
            observe(413, 0.0)
            await fail(send, _too_large(limit))
            return
        message = await receive()
        if message["type"] != "http.request":
            return  # client went away
        body = message.get("body", b"")
        if message.get("more_body", False):
            chunks = [body]
            size = len(body)
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    observe(413, 0.0)
                    await fail(send, _too_large(limit))
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
        elif len(body) > limit:
            observe(413, 0.0)
            await fail(send, _too_large(limit))
            return
        nonlocal inline
        small = len(body) < INLINE_BYTES
        started = time.perf_counter()
        try:
            serve = handle
            if cache is not None:
                serve = await model_of(target)
            if small and batched is not None:
                out, out_type = await batched(body, content_type, accept)
            elif small and inline:
                out, out_type = serve(body, content_type, accept)  # type: ignore[misc]
            else:
                loop = asyncio.get_running_loop()
                out, out_type = await loop.run_in_executor(
                    executor, serve, body, content_type, accept
                )
            if small and batched is None:  # (a batch's time includes waiting for others)
                # Back inline once a small request is quick again (not only slow to start).
                inline = time.perf_counter() - started < (INLINE_SECONDS if inline else 0.005)
        except ModelyardError as exc:
            observe(exc.status_code, time.perf_counter() - started)
            await fail(send, exc)
            return
        except Exception as exc:  # the model failed: log it, answer 500, keep serving
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            observe(500, time.perf_counter() - started)
            await fail(send, ModelyardError(f"prediction failed: {type(exc).__name__}: {exc}"))
            return
        observe(200, time.perf_counter() - started)
        await respond(send, 200, out, out_type)

    async def model_of(target: str | None) -> Handler:
        assert cache is not None
        try:
            return await cache.handler(target)
        except ModelyardError:
            raise
        except Exception as exc:  # a broken artifact: not the server's fault, nor a 500 of ours
            traceback.print_exc(file=sys.stderr)
            raise ModelError(
                f"model {target!r} failed to load: {type(exc).__name__}: {exc}",
                {"target_model": target},
            ) from None

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        path = scope["path"]
        method = scope["method"]
        if path == "/invocations":
            if method == "POST":
                await invocations(scope, receive, send)
            else:
                await fail(send, MethodNotAllowed("use POST /invocations"))
        elif path == "/ping":
            if method == "GET" or method == "HEAD":
                await send(ping_start)
                await send(empty_body)
            else:
                await fail(send, MethodNotAllowed("use GET /ping"))
        elif path == "/execution-parameters" and method == "GET":
            await respond(send, 200, params_body, json_type)
        elif path == "/metrics" and method == "GET":
            await respond(send, 200, metrics.render(), text_type)
        elif path == "/models" and method == "GET" and cache is not None:
            await respond(send, 200, json.dumps({"models": cache.loaded()}).encode(), json_type)
        else:
            await fail(
                send,
                NotFound(
                    f"no route {method} {path}; routes: GET /ping, POST /invocations, "
                    "GET /execution-parameters, GET /metrics"
                    + (", GET /models" if cache is not None else "")
                ),
            )

    return app


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body exceeds the limit of {limit} bytes ({limit / (1024 * 1024):.3g} MiB)",
        {"limit_bytes": limit},
    )


# --------------------------------------------------------------------------------------------
# the process


def _tune_gc() -> None:
    """Keep the garbage collector off the request path.

    Everything allocated while loading (the model, numpy, xgboost, uvicorn's modules) is
    long-lived: one full collection, then gc.freeze() moves it to the permanent generation so
    later collections never traverse it again. The thresholds stay at Python's defaults:
    raising generation 0's to 50,000 was measured to make each collection large (2.5 ms on
    average, 38 ms at worst) and the p99 at one connection 15-25x worse, since every request
    leaves some cyclic garbage; frequent young collections cost 0.13 ms each.
    """
    gc.collect()
    gc.freeze()


MEMORY_CHECK_SECONDS = 0.1
MEMORY_EXIT_CODE = 137  # what a container killed for its memory limit exits with


def _watch_memory(limit_mb: int) -> None:
    """End the model server once it holds more than limit_mb resident (a serverless
    variant's MemorySizeInMB): the endpoint restarts it, and the reason is the last line of
    its log, which the instance's description shows."""
    import threading

    import psutil

    process = psutil.Process()

    def watch() -> None:
        while True:
            resident = process.memory_info().rss / 2**20
            if resident > limit_mb:
                print(
                    f"model server stopped: it held {resident:.0f} MB, more than the "
                    f"variant's MemorySizeInMB of {limit_mb} MB",
                    file=sys.stderr,
                    flush=True,
                )
                os._exit(MEMORY_EXIT_CODE)
            time.sleep(MEMORY_CHECK_SECONDS)

    threading.Thread(target=watch, name="memory-watch", daemon=True).start()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m modelyard.runtime.serving",
        description="Serve one model over SageMaker's inference contract.",
    )
    parser.add_argument(
        "--model-data",
        required=True,
        help="s3://bucket/key/model.tar.gz, a local model.tar.gz or a directory",
    )
    served = parser.add_mutually_exclusive_group(required=True)
    served.add_argument("--algorithm", help="registered algorithm name")
    served.add_argument(
        "--framework",
        help="serve with the user's inference code: sklearn, xgboost, pytorch or 'python'",
    )
    parser.add_argument("--entry-point", help="the inference script (default code/inference.py)")
    parser.add_argument("--source-dir", help="s3:// URI of sourcedir.tar.gz with the code")
    parser.add_argument(
        "--envs-dir",
        type=Path,
        default=None,
        help="where environments for the code's requirements.txt are built and cached",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 = any free port")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where the model is downloaded and extracted (default: a temp dir)",
    )
    parser.add_argument(
        "--storage-url",
        default=None,
        help="object store for s3:// model data (default: the configured one)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=0,
        help="batch the rows of requests that arrive together, up to this many (0: off)",
    )
    parser.add_argument(
        "--max-batch-wait-ms",
        type=float,
        default=2.0,
        help="with batching, how long a batch may wait for more while requests come together",
    )
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=0,
        help="stop once the process holds more than this many MB resident (0: no limit)",
    )
    parser.add_argument(
        "--multi-model",
        action="store_true",
        help="--model-data is an s3:// prefix; each request's TargetModel names a model there",
    )
    parser.add_argument(
        "--max-models",
        type=int,
        default=None,
        help="with --multi-model: keep at most this many models loaded",
    )
    parser.add_argument(
        "--model-cache-mb",
        type=float,
        default=None,
        help="with --multi-model: evict models while the process's memory exceeds this",
    )
    parser.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_MB,
        help="reject request bodies bigger than this with 413",
    )
    return parser.parse_args(argv)


def multi_model_cache(args: argparse.Namespace, work_dir: Path) -> ModelCache:
    if args.algorithm:
        algorithm = serving_algorithm(args.algorithm)

        def build(model_dir: Path) -> Handler:
            return builtin_handler(algorithm, algorithm.load(model_dir))
    else:
        build = user_handler_builder(args, work_dir)
    memory = args.model_cache_mb
    return ModelCache(
        args.model_data,
        build,
        work_dir,
        args.storage_url,
        max_models=args.max_models,
        memory_limit_bytes=None if memory is None else int(memory * 1024 * 1024),
    )


def main(argv: list[str] | None = None) -> int:
    began = time.perf_counter()
    args = _parse_args(argv)
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="modelyard-serving-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    batched = None
    cache = None
    handle: Handler | None = None
    try:
        if args.multi_model:
            if args.max_batch_size > 0:
                raise InvalidRequest("adaptive batching serves one model, not --multi-model")
            cache = multi_model_cache(args, work_dir)
        elif args.algorithm:
            algorithm, model = load_model(
                args.model_data, args.algorithm, work_dir, args.storage_url
            )
            handle = builtin_handler(algorithm, model)
            if args.max_batch_size > 0:
                batched = batched_handler(
                    algorithm,
                    model,
                    {"max_batch_size": args.max_batch_size, "max_wait_ms": args.max_batch_wait_ms},
                    # uvicorn counts a request's task from when its head is read
                    lambda: len(server.server_state.tasks),
                )
        else:
            handle = load_user_handler(args, work_dir)
    except Exception as exc:
        if not isinstance(exc, ModelyardError):
            traceback.print_exc(file=sys.stderr)
        print(f"model server failed to load the model: {exc}", file=sys.stderr, flush=True)
        return 1

    import uvicorn

    metrics = ServerMetrics()
    app = create_handler_app(
        handle,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        batched=batched,
        cache=cache,
        metrics=metrics,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http="httptools",
        loop="uvloop",
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=65,  # outlive the proxy's idle pooled connections
        timeout_graceful_shutdown=15,
    )
    server = uvicorn.Server(config)

    # uvicorn traps SIGTERM/SIGINT while serving, shuts down gracefully (in-flight requests
    # finish), then restores the previous handlers and re-raises the signal. These no-op
    # handlers are what it restores, so a signalled shutdown ends with exit status 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    async def serve() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.005)
        if server.started:
            metrics.setup_seconds = time.perf_counter() - began
            port = server.servers[0].sockets[0].getsockname()[1]
            print(
                f"model server listening on http://{args.host}:{port} "
                f"({'algorithm ' + args.algorithm if args.algorithm else args.framework}"
                f"{', multi-model' if cache is not None else ''})",
                flush=True,
            )
        await task

    _tune_gc()
    if args.memory_limit_mb:
        _watch_memory(args.memory_limit_mb)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
