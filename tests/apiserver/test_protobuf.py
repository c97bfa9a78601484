"""Decoding kubectl's protobuf bodies: the envelope, field numbers, zero values, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestra.apiserver.errors import BadRequest, UnsupportedMediaType
from orchestra.apiserver.protobuf import MAGIC, SCHEMAS, decode_protobuf


# A minimal protobuf encoder, enough to build the bodies kubectl sends.
def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def vfield(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def lfield(number: int, data: bytes | str) -> bytes:
    data = data.encode() if isinstance(data, str) else data
    return varint(number << 3 | 2) + varint(len(data)) + data


def entry(number: int, key: str, value: bytes | str) -> bytes:
    return lfield(number, lfield(1, key) + lfield(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return MAGIC + lfield(1, lfield(1, api_version) + lfield(2, kind)) + lfield(2, raw) + lfield(3, "") + lfield(4, "")


def object_meta(name: str, **labels: str) -> bytes:
    # Go writes every non-pointer field, empty or not: name … resourceVersion, generation, creationTimestamp.
    fields = lfield(1, name) + b"".join(lfield(n, "") for n in (2, 3, 4, 5, 6)) + vfield(7, 0) + lfield(8, b"")
    return fields + b"".join(entry(11, k, v) for k, v in labels.items())


def test_configmap_with_data_and_binary_data():
    raw = lfield(1, object_meta("cm")) + entry(2, "a", "b") + entry(3, "bin", b"\x00\x01") + vfield(4, 0)
    assert decode_protobuf(envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
        "data": {"a": "b"}, "binaryData": {"bin": "AAE="}, "immutable": False,
    }


def test_deployment_keeps_set_pointer_zeros_and_drops_unset_fields():
    container = lfield(1, "web") + lfield(2, "nginx") + lfield(5, "") + lfield(6, lfield(1, "") + vfield(3, 80)) \
        + lfield(8, entry(1, "cpu", lfield(1, "500m"))) + vfield(16, 0)
    template = lfield(1, object_meta("", app="web")) + lfield(2, lfield(2, container) + lfield(3, "Always"))
    strategy = lfield(1, "RollingUpdate") + lfield(2, lfield(1, vfield(1, 1) + lfield(3, "25%")) + lfield(2, vfield(2, 2)))
    spec = vfield(1, 0) + lfield(2, entry(1, "app", "web")) + lfield(3, template) + lfield(4, strategy) + vfield(5, 0)
    obj = decode_protobuf(envelope("apps/v1", "Deployment", lfield(1, object_meta("web", app="web")) + lfield(2, spec)))
    assert obj["spec"] == {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}],
                                              "resources": {"limits": {"cpu": "500m"}}}],
                              "restartPolicy": "Always"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 2}},
    }


def test_times_and_negative_numbers():
    meta = lfield(1, "ns") + lfield(8, vfield(1, 1_600_000_000)) + vfield(10, -1)
    obj = decode_protobuf(envelope("v1", "Namespace", lfield(1, meta)))
    assert obj["metadata"] == {"name": "ns", "creationTimestamp": "2020-09-13T12:26:40Z", "deletionGracePeriodSeconds": -1}


def test_an_unknown_field_is_refused_by_number_not_dropped():
    container = lfield(1, "web") + lfield(2, "nginx") + lfield(10, b"")  # livenessProbe: not in the table
    spec = lfield(3, lfield(2, lfield(2, container)))
    with pytest.raises(UnsupportedMediaType, match="protobuf field 10 of Container is not supported"):
        decode_protobuf(envelope("apps/v1", "Deployment", lfield(2, spec)))


def test_an_unknown_kind_is_415():
    with pytest.raises(UnsupportedMediaType, match="Secret"):
        decode_protobuf(envelope("v1", "Secret", b""))


@pytest.mark.parametrize("body", [b"no envelope", MAGIC + b"\x0a\x05ab", MAGIC + b"\x0f", MAGIC + b"\x08\xff"])
def test_malformed_bytes_are_400(body):
    with pytest.raises(BadRequest):
        decode_protobuf(body)


def test_a_wrong_wire_type_is_400():
    with pytest.raises(BadRequest, match="wire type"):
        decode_protobuf(envelope("v1", "ConfigMap", vfield(1, 5)))


@given(st.binary(max_size=200))
def test_junk_after_the_magic_is_400_or_415_never_anything_else(junk):
    try:
        decode_protobuf(MAGIC + junk)
    except (BadRequest, UnsupportedMediaType):
        pass


def test_every_message_kind_names_a_known_schema():
    builtin = {"string", "int", "bool", "time", "intorstr", "map:string", "map:bytes", "map:quantity"}
    for fields in SCHEMAS.values():
        for field in fields.values():
            assert field.kind in builtin or field.kind in SCHEMAS, field
