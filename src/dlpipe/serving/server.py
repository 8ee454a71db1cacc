"""Serve a model dlpipe logged over HTTP: ``python -m dlpipe.serving.server --model URI``.

The request and response formats are MLflow's scoring protocol (``POST /invocations`` with
``{"inputs": [...]}``, answered ``{"predictions": [...]}``), so MLflow's clients work unchanged.
Unlike a plain ``mlflow models serve``, every request is checked before the model sees it: the
body's size, JSON, the shape of each example and values the raw dtype holds exactly (pixels sent
already divided by 255 would otherwise be cast to zeros and answered wrongly). A bad request is
answered 4xx with what was expected; the server goes on serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dlpipe.serving.inputs import InvalidInputs
from dlpipe.serving.served_model import load_served_model

logger = logging.getLogger(__name__)

# About 1,400 raw 28 x 28 images as JSON: larger batches go in several requests.
DEFAULT_MAX_BODY_MB = 4.0


def create_app(served, *, max_body_bytes: int):
    """The FastAPI app answering for ``served``, a loaded ``ServedModel``."""
    from dlpipe.data.spec import DataSpec

    spec = DataSpec.model_validate(served.spec)
    app = FastAPI(title="dlpipe model server")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse(
            {"error_code": "BAD_REQUEST" if status < 500 else "INTERNAL", "message": message}, status
        )

    @app.get("/ping")
    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/version")
    async def version():
        return {"task": served.task, "input_shape": spec.input_shape, "input_dtype": spec.input_dtype}

    @app.post("/invocations")
    async def invocations(request: Request):
        body = bytearray()
        received = 0
        async for chunk in request.stream():
            # An oversized body is still read to its end, unkept: a client still sending when
            # the answer comes would see a reset connection instead of the 413.
            received += len(chunk)
            if received <= max_body_bytes:
                body.extend(chunk)
        if received > max_body_bytes:
            return error(413, _too_large(received, max_body_bytes))
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/json":
            return error(415, f"content type {content_type!r}: expected application/json")
        try:
            inputs = parse_request(bytes(body))
            table = await asyncio.to_thread(served.predictions, inputs)
            records = (
                table.to_dict(orient="records") if hasattr(table, "to_dict") else np.asarray(table).tolist()
            )
            return JSONResponse({"predictions": records})
        except InvalidInputs as err:
            return error(400, str(err))
        except Exception as err:  # noqa: BLE001 - one failed prediction must not stop the server
            logger.exception("Prediction failed")
            return error(500, f"prediction failed: {type(err).__name__}: {str(err).splitlines()[0][:300]}")

    return app


def parse_request(body: bytes) -> np.ndarray:
    """The inputs of a request body ``{"inputs": [...]}`` as an array; InvalidInputs otherwise."""
    try:
        payload = json.loads(body)
    except RecursionError:
        raise InvalidInputs("the JSON is nested too deeply to be a batch of inputs") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputs(f'the body is not JSON ({err}): expected {{"inputs": [example, ...]}}') from None
    if not isinstance(payload, dict) or "inputs" not in payload:
        got = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise InvalidInputs(f'expected a JSON object {{"inputs": [example, ...]}}, got {got}')
    try:
        return np.asarray(payload["inputs"])
    except ValueError:
        raise InvalidInputs("the inputs are ragged: every example must have the same shape") from None


def _too_large(size: int, limit: int) -> str:
    return (
        f"request body of {size} bytes exceeds the limit of {limit} bytes (--max-body-mb): "
        "send the inputs in several smaller requests"
    )


def main(argv: list[str] | None = None) -> None:
    import mlflow
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m dlpipe.serving.server", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--model", required=True, help="an MLflow model URI, e.g. models:/dlpipe-<pipeline>@champion"
    )
    parser.add_argument(
        "--tracking-uri",
        default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db"),
        help="where models:/ URIs are looked up (default $MLFLOW_TRACKING_URI or sqlite:///mlflow.db)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    parser.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_MB)
    args = parser.parse_args(argv)
    mlflow.set_tracking_uri(args.tracking_uri)
    served = load_served_model(args.model)
    app = create_app(served, max_body_bytes=int(args.max_body_mb * 1024 * 1024))
    logger.info("Serving %s on http://%s:%d/invocations", args.model, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
