"""TF Serving's JSON mapping for `:predict`: request JSON -> numpy inputs -> response JSON.

Follows tensorflow/serving `g3doc/api_rest.md` and `util/json_tensor.cc`: `instances` (row
format, every input batched along a new 0-th dimension) or `inputs` (columnar), `{"b64": ...}`
for binary strings, `predictions` / `outputs` in the answer, one output -> no names, output
names ending in `_bytes` -> base64. Every client mistake raises `InvalidArgument` naming the
input and the reason, so the server answers 400, never 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.api_errors import InvalidArgument

BYTES_SUFFIX = "_bytes"
# numpy's (and so TF Serving's practical) limit on tensor rank.
MAX_TENSOR_RANK = 32
# Above this many values a float32 tensor is written with float64 digits (exact, longer) instead
# of the shortest round-trip form, which costs ~0.6 us per value in Python.
SHORTEST_FLOAT_LIMIT = 4096

NUMPY_DTYPES: dict[str, Any] = {
    "DT_FLOAT": np.float32,
    "DT_DOUBLE": np.float64,
    "DT_INT8": np.int8,
    "DT_UINT8": np.uint8,
    "DT_INT16": np.int16,
    "DT_INT32": np.int32,
    "DT_UINT32": np.uint32,
    "DT_INT64": np.int64,
    "DT_UINT64": np.uint64,
    "DT_BOOL": np.bool_,
    "DT_STRING": object,
}


@dataclass(frozen=True)
class TensorSpecInfo:
    """One signature input or output: its key, TF dtype name and shape (-1 = any size)."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None  # None: unknown rank

    def shape_str(self) -> str:
        return "[?]" if self.shape is None else "[" + ", ".join(map(str, self.shape)) + "]"


@dataclass
class PredictRequest:
    signature_name: str
    inputs: dict[str, np.ndarray]
    row_format: bool


def specs_from_tensor_infos(tensor_infos: Mapping[str, Any]) -> dict[str, TensorSpecInfo]:
    """TensorSpecInfo per key from a SignatureDef's `inputs` or `outputs` map."""
    from tensorflow.core.framework import types_pb2

    specs = {}
    for key, info in tensor_infos.items():
        shape = None
        if not info.tensor_shape.unknown_rank:
            shape = tuple(int(d.size) for d in info.tensor_shape.dim)
        specs[key] = TensorSpecInfo(key, types_pb2.DataType.Name(info.dtype), shape)
    return specs


def _is_b64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "object"


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _dense_shape(value: Any) -> list[int]:
    # Like TF Serving: the shape is read off the first element at each level; the walk below
    # then checks every list against it.
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _decode_b64(value: dict, where: str) -> bytes:
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidArgument(f"{where}: unable to base64 decode ({e})") from e


def _string_leaf(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise InvalidArgument(
                f"{where}: string is not valid Unicode ({e.reason} at character {e.start}); "
                'send binary data as {"b64": "<base64>"}'
            ) from None
    if _is_b64_object(value):
        return _decode_b64(value, where)
    if isinstance(value, dict):
        raise InvalidArgument(
            f"{where}: JSON object {_short(value)} is not a string; binary values must be "
            'written as {"b64": "<base64>"}'
        )
    raise InvalidArgument(f"{where}: JSON {_json_type(value)} {_short(value)} is not a string")


def _numeric_leaf(value: Any, dtype: str, where: str) -> Any:
    if dtype == "DT_BOOL":
        ok = isinstance(value, bool)
    elif dtype in ("DT_FLOAT", "DT_DOUBLE"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise InvalidArgument(
            f"{where}: JSON {_json_type(value)} {_short(value)} is not of expected type {dtype}"
        )
    return value


def _walk(value: Any, shape: list[int], level: int, leaf: Callable, out: list, where: str) -> None:
    if isinstance(value, list):
        if level >= len(shape):
            raise InvalidArgument(f"{where}: list nested deeper than the first element's shape")
        if len(value) != shape[level]:
            raise InvalidArgument(
                f"{where}: list of size {len(value)} at level {level}, expected size "
                f"{shape[level]} (all elements must have the same shape)"
            )
        for item in value:
            _walk(item, shape, level + 1, leaf, out, where)
        return
    if level != len(shape):
        raise InvalidArgument(
            f"{where}: value {_short(value)} found at nesting level {level}, expected at "
            f"level {len(shape)} (all elements must have the same shape)"
        )
    out.append(leaf(value, where))


def to_array(value: Any, spec: TensorSpecInfo, where: str) -> np.ndarray:
    """Convert one JSON tensor value (scalar or nested lists) to a numpy array of spec's dtype."""
    if spec.dtype not in NUMPY_DTYPES:
        raise InvalidArgument(f"{where}: input type {spec.dtype} is not supported by the REST API")
    np_dtype = NUMPY_DTYPES[spec.dtype]
    shape = _dense_shape(value)
    if len(shape) > MAX_TENSOR_RANK:
        raise InvalidArgument(
            f"{where}: lists nested {len(shape)} levels deep; a tensor has at most "
            f"{MAX_TENSOR_RANK} dimensions"
        )
    if spec.dtype != "DT_STRING":
        # Fast path for numeric tensors; the walk below only runs to explain a failure.
        try:
            arr = np.array(value)
        except ValueError:
            arr = None
        want = np.dtype(np_dtype).kind
        accepted = {"b": "b", "f": "iuf", "i": "iu", "u": "iu"}[want]
        if arr is not None and list(arr.shape) == shape and arr.dtype.kind in accepted:
            if want in "iu" and arr.size:
                info = np.iinfo(np_dtype)
                if arr.min() < info.min or arr.max() > info.max:
                    raise InvalidArgument(f"{where}: value out of range for {spec.dtype}")
            return arr.astype(np_dtype, copy=False)
        leaves: list = []
        _walk(value, shape, 0, lambda v, w: _numeric_leaf(v, spec.dtype, w), leaves, where)
        return np.array(leaves, dtype=np_dtype).reshape(shape)
    leaves = []
    _walk(value, shape, 0, _string_leaf, leaves, where)
    arr = np.empty(len(leaves), dtype=object)
    arr[:] = leaves
    return arr.reshape(shape)


def check_shape(arr: np.ndarray, spec: TensorSpecInfo, signature_name: str) -> None:
    """Raise InvalidArgument unless `arr` fits the signature's (partially known) shape."""
    if spec.shape is None:
        return
    ok = arr.ndim == len(spec.shape) and all(
        want < 0 or want == got for want, got in zip(spec.shape, arr.shape, strict=True)
    )
    if not ok:
        got = "[" + ", ".join(map(str, arr.shape)) + "]"
        raise InvalidArgument(
            f"input {spec.name!r} has shape {got} but signature {signature_name!r} expects "
            f"{spec.shape_str()} (-1 = any size)"
        )


def _rows_from_instances(
    instances: list, specs: dict[str, TensorSpecInfo], signature_name: str
) -> dict[str, np.ndarray]:
    names = sorted(specs)
    first = instances[0]
    if isinstance(first, dict) and not _is_b64_object(first):
        values: dict[str, list] = {name: [] for name in names}
        for i, item in enumerate(instances):
            if not isinstance(item, dict) or _is_b64_object(item):
                raise InvalidArgument(
                    f"instances[{i}]: expecting an object with keys {names} like instances[0], "
                    f"got {_json_type(item)}"
                )
            if set(item) != set(names):
                missing, unknown = sorted(set(names) - set(item)), sorted(set(item) - set(names))
                raise InvalidArgument(
                    f"instances[{i}]: keys must be the inputs of signature {signature_name!r}: "
                    f"{names} (missing {missing}, unknown {unknown})"
                )
            for name in names:
                values[name].append(item[name])
        return {
            name: to_array(values[name], specs[name], f"instances[*][{name!r}]") for name in names
        }
    if len(specs) > 1:
        raise InvalidArgument(
            f"instances is a plain list, but signature {signature_name!r} has {len(specs)} "
            f"inputs {names}: send a list of objects keyed by input name"
        )
    for i, item in enumerate(instances):
        if isinstance(item, dict) and not _is_b64_object(item):
            raise InvalidArgument(f"instances[{i}]: expecting a value/list like instances[0]")
    return {names[0]: to_array(instances, specs[names[0]], f"instances (input {names[0]!r})")}


def _columns_from_inputs(
    inputs: Any, specs: dict[str, TensorSpecInfo], signature_name: str
) -> dict[str, np.ndarray]:
    names = sorted(specs)
    if isinstance(inputs, dict) and not _is_b64_object(inputs):
        missing, unknown = sorted(set(names) - set(inputs)), sorted(set(inputs) - set(names))
        if missing or unknown:
            raise InvalidArgument(
                f"'inputs' keys must be the inputs of signature {signature_name!r}: {names} "
                f"(missing {missing}, unknown {unknown})"
            )
        return {name: to_array(inputs[name], specs[name], f"inputs[{name!r}]") for name in names}
    if len(specs) > 1:
        raise InvalidArgument(
            f"'inputs' is a plain value/list, but signature {signature_name!r} has "
            f"{len(specs)} inputs {names}: send an object keyed by input name"
        )
    return {names[0]: to_array(inputs, specs[names[0]], f"inputs (input {names[0]!r})")}


def _check_rows(rows: int, what: str, max_instances: int | None) -> None:
    if max_instances is not None and rows > max_instances:
        raise InvalidArgument(
            f"{what} has {rows} rows; this server takes at most {max_instances} per request "
            "(its --max-instances): split the request, or use `vistflow batch-caption` for bulk"
        )


def parse_predict_request(
    body: bytes,
    input_specs: Callable[[str], dict[str, TensorSpecInfo]],
    default_signature: str = "serving_default",
    max_instances: int | None = None,
) -> PredictRequest:
    """Parse a `:predict` body; `input_specs(signature)` raises InvalidArgument if unknown.

    More than `max_instances` rows is a 400, checked before any value is converted.
    """
    if not body or not body.strip():
        raise InvalidArgument("JSON Parse error: the request body is empty")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"JSON Parse error: {e}") from e
    except RecursionError:
        raise InvalidArgument(
            "JSON Parse error: arrays/objects nested too deeply for this server"
        ) from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"the request must be a JSON object, got {_json_type(doc)}")
    signature_name = doc.get("signature_name", default_signature)
    if not isinstance(signature_name, str):
        raise InvalidArgument("'signature_name' must be a string")
    if not signature_name.isprintable() or _has_surrogate(signature_name):
        raise InvalidArgument(f"'signature_name' {ascii(signature_name)[:80]} is not a valid name")
    signature_name = signature_name or default_signature
    specs = input_specs(signature_name)
    unknown = sorted(set(doc) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise InvalidArgument(
            f"unknown request key(s) {unknown}; expected 'instances' or 'inputs' and an "
            "optional 'signature_name'"
        )
    if "instances" in doc and "inputs" in doc:
        raise InvalidArgument("the request has both 'instances' and 'inputs'; send only one")
    if "instances" in doc:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise InvalidArgument("'instances' must be a list")
        if not instances:
            raise InvalidArgument("no values in the 'instances' list")
        _check_rows(len(instances), "'instances'", max_instances)
        arrays, row_format = _rows_from_instances(instances, specs, signature_name), True
    elif "inputs" in doc:
        columns = doc["inputs"]
        for name, value in columns.items() if isinstance(columns, dict) else [("", columns)]:
            if isinstance(value, list):
                _check_rows(len(value), f"'inputs'{f'[{name!r}]' if name else ''}", max_instances)
        arrays, row_format = _columns_from_inputs(columns, specs, signature_name), False
    else:
        raise InvalidArgument("missing 'inputs' or 'instances' key")
    for name, arr in arrays.items():
        check_shape(arr, specs[name], signature_name)
    return PredictRequest(signature_name, arrays, row_format)


def _string_value(value: bytes, as_bytes: bool) -> Any:
    if not as_bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass  # not text: fall through to base64 rather than emit invalid JSON
    return {"b64": base64.b64encode(value).decode("ascii")}


def tensor_to_json(arr: np.ndarray, name: str) -> Any:
    """A numpy output tensor as nested JSON lists (or a scalar), TF Serving style."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "OSU":
        as_bytes = name.endswith(BYTES_SUFFIX)
        flat = [
            _string_value(v if isinstance(v, bytes) else str(v).encode("utf-8"), as_bytes)
            for v in arr.ravel()
        ]
    elif arr.dtype == np.float32 and arr.size <= SHORTEST_FLOAT_LIMIT:
        flat = [float(repr(v)) for v in arr.ravel()]
    else:
        flat = arr.ravel().tolist()
    return _nest(flat, arr.shape)


def _nest(flat: list, shape: tuple[int, ...]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


def encode_predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict:
    """`{"predictions": ...}` (row format) or `{"outputs": ...}` (columnar) for `outputs`."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": tensor_to_json(outputs[names[0]], names[0])}
        return {"outputs": {name: tensor_to_json(outputs[name], name) for name in names}}
    batch = None
    for name in names:
        arr = np.asarray(outputs[name])
        if arr.ndim == 0:
            raise InvalidArgument(
                f"output {name!r} is a scalar, which the row format cannot split into "
                "predictions; send 'inputs' (columnar format) instead"
            )
        if batch is not None and arr.shape[0] != batch:
            raise InvalidArgument(
                f"output {name!r} has batch size {arr.shape[0]}, expected {batch}; send "
                "'inputs' (columnar format) instead"
            )
        batch = arr.shape[0]
    columns = {name: tensor_to_json(outputs[name], name) for name in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{name: columns[name][i] for name in names} for i in range(batch)]}
