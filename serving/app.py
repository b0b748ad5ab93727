"""The WSGI application: TF Serving's REST API (status, metadata, predict) plus the web page.

Routes (tensorflow/serving `g3doc/api_rest.md`):
  GET  /v1/models/NAME[/versions/N]             model status
  GET  /v1/models/NAME[/versions/N]/metadata    signature defs
  POST /v1/models/NAME[/versions/N]:predict     predict (row `instances` / columnar `inputs`)
  GET  /monitoring/prometheus/metrics           request and batching counters (Prometheus text)
  GET  /                                        the captioning / storytelling page
Errors are `{"error": "..."}`: 400 for a bad request, 404 for an unknown model or version,
413 for a body above the limit; 500 is kept for the server's own failures.
"""

from __future__ import annotations

import collections
import html
import json
import logging
import threading
from pathlib import Path

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from serving.api_errors import ApiError, InvalidArgument, NotFound, PayloadTooLarge
from serving.defaults import DEFAULT_MAX_INSTANCES, DEFAULT_MAX_REQUEST_BYTES
from serving.json_codec import encode_predict_response, parse_predict_request
from serving.manager import ModelManager

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


class _ModelNameConverter(BaseConverter):
    regex = "[^/:]+"  # as TF Serving's path regex: a name never holds '/' or ':'


class RestApp:
    """WSGI app serving `manager`'s model over the TF Serving REST API."""

    def __init__(
        self,
        manager: ModelManager,
        *,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        static_dir: Path = STATIC_DIR,
    ):
        self.manager = manager
        self.max_request_bytes = max_request_bytes
        self.max_instances = max_instances
        self.static_dir = Path(static_dir)
        self._counts: collections.Counter = collections.Counter()
        self._counts_lock = threading.Lock()
        model = "<model:model>"
        version = "/versions/<int:version>"
        self.url_map = Map(
            [
                Rule("/", endpoint="index", methods=["GET"]),
                Rule("/static/<path:filename>", endpoint="static", methods=["GET"]),
                Rule("/monitoring/prometheus/metrics", endpoint="metrics", methods=["GET"]),
                Rule(f"/v1/models/{model}", endpoint="status", methods=["GET"]),
                Rule(f"/v1/models/{model}{version}", endpoint="status", methods=["GET"]),
                Rule(f"/v1/models/{model}/metadata", endpoint="metadata", methods=["GET"]),
                Rule(f"/v1/models/{model}{version}/metadata", endpoint="metadata", methods=["GET"]),
                Rule(f"/v1/models/{model}:predict", endpoint="predict", methods=["POST"]),
                Rule(f"/v1/models/{model}{version}:predict", endpoint="predict", methods=["POST"]),
                Rule(f"/v1/models/{model}:<method>", endpoint="unsupported", methods=["POST"]),
                Rule(
                    f"/v1/models/{model}{version}:<method>",
                    endpoint="unsupported",
                    methods=["POST"],
                ),
            ],
            converters={"model": _ModelNameConverter},
            strict_slashes=False,
        )

    # --- plumbing -------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        request.max_content_length = self.max_request_bytes
        response = self._dispatch(request)
        with self._counts_lock:
            self._counts[(request.method, response.status_code)] += 1
        return response(environ, start_response)

    @staticmethod
    def _json(payload: object, status: int = 200, pretty: bool = False) -> Response:
        # allow_nan: TF Serving writes NaN/Infinity tokens too (api_rest.md, JSON conformance).
        # Predictions stay compact: json's C encoder only runs without indent.
        body = json.dumps(payload, allow_nan=True, ensure_ascii=False, indent=1 if pretty else None)
        try:
            data = (body + "\n").encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate echoed from the request: escape it
            data = (
                json.dumps(payload, allow_nan=True, indent=1 if pretty else None) + "\n"
            ).encode()
        return Response(data, status=status, content_type="application/json")

    def _dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
            return getattr(self, f"on_{endpoint}")(request, **values)
        except ApiError as e:
            if e.http_status >= 500:
                logger.error("%s %s: %s", request.method, request.path, e.message)
            return self._json({"error": e.message}, e.http_status)
        except RequestEntityTooLarge:
            return self._json(
                {
                    "error": f"request body is above this server's limit of {self.max_request_bytes} bytes"
                },
                413,
            )
        except HTTPException as e:
            if e.code == 404 and request.path.startswith("/v1/"):
                # TF Serving answers an unparsable API path as a malformed request.
                return self._json(
                    {"error": f"Malformed request: {request.method} {request.path}"}, 400
                )
            response = self._json({"error": e.description or e.name}, e.code or 500)
            if e.code == 405:
                response.headers["Allow"] = ", ".join(getattr(e, "valid_methods", None) or [])
            return response
        except Exception as e:  # noqa: BLE001 - last resort: a JSON 500, logged with traceback
            logger.exception("%s %s failed", request.method, request.path)
            return self._json({"error": f"internal error: {type(e).__name__}: {e}"}, 500)

    def _check_model(self, model: str) -> None:
        if model != self.manager.model_name:
            raise NotFound(f"Could not find any versions of model {model}")

    # --- endpoints ------------------------------------------------------------------------

    def on_index(self, request: Request) -> Response:
        page = (self.static_dir / "index.html").read_text(encoding="utf-8")
        page = page.replace("{{MODEL_NAME}}", html.escape(self.manager.model_name, quote=True))
        return Response(page, content_type="text/html; charset=utf-8")

    def on_static(self, request: Request, filename: str) -> Response:
        return send_from_directory(self.static_dir, filename, request.environ, max_age=60)

    def on_metrics(self, request: Request) -> Response:
        name = self.manager.model_name.replace("\\", "\\\\").replace('"', '\\"')
        lines = [
            "# HELP vistflow_http_requests_total HTTP requests answered, by method and status.",
            "# TYPE vistflow_http_requests_total counter",
        ]
        with self._counts_lock:
            counts = sorted(self._counts.items())
        for (method, code), n in counts:
            lines.append(f'vistflow_http_requests_total{{method="{method}",code="{code}"}} {n}')
        lines += [
            "# HELP vistflow_model_calls_total Model calls (one per batch) by version and signature.",
            "# TYPE vistflow_model_calls_total counter",
            "# HELP vistflow_model_rows_total Rows sent to the model; rows/calls = mean batch size.",
            "# TYPE vistflow_model_rows_total counter",
        ]
        for loaded in self.manager.loaded():
            for signature, runner in sorted(loaded.runners.items()):
                if runner.batcher is None:
                    continue
                labels = f'model="{name}",version="{loaded.version}",signature="{signature}"'
                lines.append(f"vistflow_model_calls_total{{{labels}}} {runner.batcher.calls}")
                lines.append(f"vistflow_model_rows_total{{{labels}}} {runner.batcher.rows}")
        return Response("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")

    def on_status(self, request: Request, model: str, version: int | None = None) -> Response:
        from tensorflow_serving.apis import get_model_status_pb2

        self._check_model(model)
        response = get_model_status_pb2.GetModelStatusResponse()
        for v, state in self.manager.status(version):
            entry = response.model_version_status.add()
            entry.version = v
            entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(state.state)
            entry.status.SetInParent()
            entry.status.error_code = _error_code_value(state.error_code)
            entry.status.error_message = state.error_message
        return self._json(_to_dict(response), pretty=True)

    def on_metadata(self, request: Request, model: str, version: int | None = None) -> Response:
        from tensorflow_serving.apis import get_model_metadata_pb2, model_pb2

        self._check_model(model)
        with self.manager.acquire(version) as loaded:
            spec = model_pb2.ModelSpec(name=model, signature_name="")
            spec.version.value = loaded.version
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for name, signature_def in loaded.signature_defs.items():
                signature_map.signature_def[name].CopyFrom(signature_def)
        return self._json(
            {"model_spec": _to_dict(spec), "metadata": {"signature_def": _to_dict(signature_map)}},
            pretty=True,
        )

    def on_predict(self, request: Request, model: str, version: int | None = None) -> Response:
        self._check_model(model)
        if request.content_length is not None and request.content_length > self.max_request_bytes:
            raise PayloadTooLarge(
                f"request body of {request.content_length} bytes is above this server's limit "
                f"of {self.max_request_bytes} bytes"
            )
        body = request.get_data(cache=False)
        with self.manager.acquire(version) as loaded:
            # Parse against the version that will run it: signatures can differ by version.
            parsed = parse_predict_request(
                body, loaded.input_specs, max_instances=self.max_instances
            )
            outputs = loaded.runner(parsed.signature_name).predict(parsed.inputs)
        return self._json(encode_predict_response(outputs, parsed.row_format))

    def on_unsupported(
        self, request: Request, model: str, method: str, version: int | None = None
    ) -> Response:
        self._check_model(model)
        raise InvalidArgument(f"method {method!r} is not supported by this server; use :predict")


def _error_code_value(name: str) -> int:
    from tensorflow_serving.apis import status_pb2

    enum = status_pb2.StatusProto.DESCRIPTOR.fields_by_name["error_code"].enum_type
    return enum.values_by_name[name].number


def _to_dict(message) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(
        message, including_default_value_fields=True, preserving_proto_field_name=True
    )
