"""TF Serving's JSON mapping: requests to numpy, outputs to JSON, and every client mistake -> 400."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from serving.api_errors import InvalidArgument
from serving.json_codec import (
    TensorSpecInfo,
    encode_predict_response,
    parse_predict_request,
    tensor_to_json,
)

SIGNATURES = {
    "serving_default": {"images": TensorSpecInfo("images", "DT_STRING", (-1,))},
    "story": {"images": TensorSpecInfo("images", "DT_STRING", (-1, 5))},
    "two": {
        "tokens": TensorSpecInfo("tokens", "DT_INT32", (-1, 3)),
        "weights": TensorSpecInfo("weights", "DT_FLOAT", (-1,)),
    },
    "flags": {"on": TensorSpecInfo("on", "DT_BOOL", (-1,))},
}


def _specs(name: str):
    if name not in SIGNATURES:
        raise InvalidArgument(f"unknown signature {name}")
    return SIGNATURES[name]


def parse(doc) -> object:
    return parse_predict_request(json.dumps(doc).encode(), _specs)


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def test_rows_with_b64_and_plain_strings():
    req = parse({"instances": [b64(b"\x89PNG\x00\xff"), "plain text"]})
    assert req.signature_name == "serving_default" and req.row_format
    assert req.inputs["images"].tolist() == [b"\x89PNG\x00\xff", b"plain text"]


def test_rows_of_named_inputs_are_stacked_along_a_new_batch_dimension():
    req = parse(
        {
            "signature_name": "two",
            "instances": [
                {"tokens": [1, 2, 3], "weights": 0.5},
                {"tokens": [4, 5, 6], "weights": 2},
            ],
        }
    )
    assert req.inputs["tokens"].dtype == np.int32
    np.testing.assert_array_equal(req.inputs["tokens"], [[1, 2, 3], [4, 5, 6]])
    assert req.inputs["weights"].dtype == np.float32
    np.testing.assert_allclose(req.inputs["weights"], [0.5, 2.0])


def test_columns_single_and_named():
    req = parse({"signature_name": "story", "inputs": [[b64(b"a")] * 5, [b64(b"b")] * 5]})
    assert not req.row_format and req.inputs["images"].shape == (2, 5)
    assert req.inputs["images"][1, 4] == b"b"
    req = parse({"signature_name": "two", "inputs": {"tokens": [[1, 2, 3]], "weights": [1.5]}})
    assert req.inputs["tokens"].shape == (1, 3) and req.inputs["weights"].tolist() == [1.5]


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"instances": [b64(b"a")], "inputs": [b64(b"a")]}, "both 'instances' and 'inputs'"),
        ({"signature_name": "nope", "instances": [1]}, "unknown signature nope"),
        ({"signature_name": 3, "instances": [1]}, "'signature_name' must be a string"),
        ({"instances": []}, "no values"),
        ({"instances": {"images": []}}, "'instances' must be a list"),
        ({}, "missing 'inputs' or 'instances'"),
        ({"instances": [b64(b"a")], "extra": 1}, "unknown request key"),
        ({"instances": [{"b64": "!!not base64!!"}]}, "unable to base64 decode"),
        ({"instances": [3]}, "is not a string"),
        ({"instances": [{"picture": "x"}]}, "unknown ['picture']"),
        ({"signature_name": "story", "instances": [[b64(b"a")] * 4]}, "expects [-1, 5]"),
        ({"signature_name": "story", "instances": [[b64(b"a")] * 5, [b64(b"a")] * 4]}, "size 4"),
        ({"signature_name": "two", "instances": [[1, 2, 3]]}, "plain list"),
        ({"signature_name": "two", "instances": [{"tokens": [1, 2, 3]}]}, "missing ['weights']"),
        (
            {"signature_name": "two", "instances": [{"tokens": [1, 2, 3], "weights": 1, "x": 1}]},
            "unknown ['x']",
        ),
        ({"signature_name": "two", "inputs": {"tokens": [[1, 2, 3]]}}, "missing ['weights']"),
        ({"signature_name": "two", "inputs": [[1, 2, 3]]}, "plain value/list"),
        (
            {"signature_name": "two", "inputs": {"tokens": [[1, 2.5, 3]], "weights": [1]}},
            "not of expected type DT_INT32",
        ),
        (
            {"signature_name": "two", "inputs": {"tokens": [[1, 2, 2**40]], "weights": [1]}},
            "out of range for DT_INT32",
        ),
        (
            {"signature_name": "two", "inputs": {"tokens": [[1, 2, 3]], "weights": ["1"]}},
            "not of expected type DT_FLOAT",
        ),
        ({"signature_name": "flags", "inputs": [1, 0]}, "not of expected type DT_BOOL"),
    ],
)
def test_client_mistakes_are_invalid_arguments(doc, message):
    with pytest.raises(InvalidArgument) as info:
        parse(doc)
    assert message in info.value.message


@pytest.mark.parametrize("body", [b"", b"   ", b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_unparsable_bodies_are_invalid_arguments(body):
    with pytest.raises(InvalidArgument):
        parse_predict_request(body, _specs)


def test_row_response_names_outputs_only_when_there_are_several():
    outputs = {
        "captions": np.array([b"a dog", b"a cat"], dtype=object),
        "scores": np.array([0.2, 0.75], dtype=np.float32),
    }
    assert encode_predict_response(outputs, row_format=True) == {
        "predictions": [{"captions": "a dog", "scores": 0.2}, {"captions": "a cat", "scores": 0.75}]
    }
    assert encode_predict_response({"scores": outputs["scores"]}, row_format=True) == {
        "predictions": [0.2, 0.75]
    }
    assert encode_predict_response(outputs, row_format=False) == {
        "outputs": {"captions": ["a dog", "a cat"], "scores": [0.2, 0.75]}
    }


def test_row_response_refuses_outputs_with_different_batch_sizes():
    outputs = {"a": np.zeros([2], np.float32), "b": np.zeros([3], np.float32)}
    with pytest.raises(InvalidArgument, match="columnar"):
        encode_predict_response(outputs, row_format=True)


def test_bytes_outputs_and_non_utf8_strings_are_base64():
    arr = np.array([b"\xff\x00", b"ok"], dtype=object)
    assert tensor_to_json(arr, "thumbnail_bytes") == [
        {"b64": base64.b64encode(b"\xff\x00").decode()},
        {"b64": base64.b64encode(b"ok").decode()},
    ]
    assert tensor_to_json(arr, "captions") == [{"b64": "/wA="}, "ok"]


def test_float32_outputs_use_the_shortest_round_trip_form_and_keep_shape():
    arr = np.array([[0.1, 1.0], [np.nan, np.inf]], dtype=np.float32)
    out = tensor_to_json(arr, "attention")
    assert out[0] == [0.1, 1.0]
    assert np.isnan(out[1][0]) and out[1][1] == float("inf")
    assert json.dumps(tensor_to_json(np.float32(0.2), "s")) == "0.2"
