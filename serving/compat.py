"""Read a SavedModel's signatures from its protos, and check what `tensorflow_model_server` needs.

TF Serving is a C++ binary: it loads the `serve` MetaGraph, serves its SignatureDefs, maps
JSON only to bool/int/float/string tensors, and cannot run ops implemented in Python
(`tf.py_function`, `tf.numpy_function`) or ops missing from its build.
"""

from __future__ import annotations

import os

from vistflow import uri

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"
PYTHON_ONLY_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})
# Types the REST API's JSON mapping supports (tensorflow/serving g3doc/api_rest.md).
JSON_DTYPES = frozenset(
    {
        "DT_BOOL",
        "DT_STRING",
        "DT_INT8",
        "DT_UINT8",
        "DT_INT16",
        "DT_INT32",
        "DT_UINT32",
        "DT_INT64",
        "DT_UINT64",
        "DT_FLOAT",
        "DT_DOUBLE",
    }
)


def read_meta_graph(saved_model_dir: str | os.PathLike, tag: str = SERVE_TAG):
    """The MetaGraphDef tagged `tag` of a SavedModel (parsed from saved_model.pb/.pbtxt)."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    path = uri.as_path(saved_model_dir)
    saved_model = saved_model_pb2.SavedModel()
    if uri.isfile(uri.join(path, "saved_model.pb")):
        saved_model.ParseFromString(uri.read_bytes(uri.join(path, "saved_model.pb")))
    elif uri.isfile(uri.join(path, "saved_model.pbtxt")):
        text = uri.read_bytes(uri.join(path, "saved_model.pbtxt")).decode("utf-8")
        text_format.Parse(text, saved_model)
    else:
        raise FileNotFoundError(f"{path}: no saved_model.pb or saved_model.pbtxt")
    for meta_graph in saved_model.meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            return meta_graph
    tags = [list(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise ValueError(f"{path}: no MetaGraph tagged {tag!r} (tags present: {tags})")


def _op_types(meta_graph) -> set[str]:
    ops = {node.op for node in meta_graph.graph_def.node}
    for function in meta_graph.graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def tf_serving_problems(version_path: str | os.PathLike) -> list[str]:
    """Reasons `tensorflow_model_server` could not serve this version directory ([] if none)."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.python.framework import op_def_registry

    path = uri.as_path(version_path)
    problems = []
    name = uri.name(path)
    if not (name.isascii() and name.isdigit()):
        problems.append(f"{path}: the version directory name must be an integer")
    if not any(uri.isfile(uri.join(path, n)) for n in ("saved_model.pb", "saved_model.pbtxt")):
        return [*problems, f"{path}: no saved_model.pb"]
    if not uri.isdir(uri.join(path, "variables")):
        problems.append(f"{path}: no variables/ directory")
    try:
        meta_graph = read_meta_graph(path)
    except ValueError as e:
        return [*problems, str(e)]
    signatures = {k: v for k, v in meta_graph.signature_def.items() if k != INIT_OP_SIGNATURE}
    if DEFAULT_SIGNATURE not in signatures:
        problems.append(f"{path}: no {DEFAULT_SIGNATURE!r} signature (has {sorted(signatures)})")
    for name, signature in sorted(signatures.items()):
        for kind, tensors in (("input", signature.inputs), ("output", signature.outputs)):
            for key, info in sorted(tensors.items()):
                dtype = types_pb2.DataType.Name(info.dtype)
                if dtype not in JSON_DTYPES:
                    problems.append(
                        f"{path}: signature {name!r} {kind} {key!r} has type {dtype}, "
                        "which the REST API cannot carry"
                    )
    ops = _op_types(meta_graph)
    for op in sorted(ops & PYTHON_ONLY_OPS):
        problems.append(f"{path}: uses {op}, a Python-only op that C++ TF Serving cannot run")
    for op in sorted(ops - PYTHON_ONLY_OPS):
        if op_def_registry.get(op) is None:
            problems.append(f"{path}: uses op {op}, which is not registered in core TensorFlow")
    return problems
