import hashlib

import pytest

from snapshots import payloads


def test_canonical_json_sorted_compact_utf8() -> None:
    payload = {"b": [1, 2.5, None], "a": {"z": "é", "y": True}}
    assert payloads.canonical_json(payload) == '{"a":{"y":true,"z":"é"},"b":[1,2.5,null]}'.encode("utf-8")


def test_checksum_is_sha256_of_canonical_form() -> None:
    canonical = payloads.canonical_json({"options": None})
    assert canonical == b'{"options":null}'
    assert payloads.checksum_of(canonical) == hashlib.sha256(b'{"options":null}').hexdigest()


def test_key_order_does_not_change_checksum() -> None:
    one = payloads.canonical_json({"x": 1, "y": {"b": 2, "a": 1}})
    two = payloads.canonical_json({"y": {"a": 1, "b": 2}, "x": 1})
    assert payloads.checksum_of(one) == payloads.checksum_of(two)


def test_compression_round_trip_and_nan_refused() -> None:
    canonical = payloads.canonical_json({"k": list(range(1000))})
    blob = payloads.compress(canonical)
    assert len(blob) < len(canonical) / 2
    assert payloads.decompress(blob) == canonical
    with pytest.raises(ValueError):
        payloads.canonical_json({"iv": float("nan")})
