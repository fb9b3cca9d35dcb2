"""Tests of the atomic, checksummed safetensors files."""

import pytest
import torch
from safetensors.torch import save_file

from v2v.flow.storage import CorruptEntryError, load_tensors_checked, save_tensors_atomic, tensors_checksum


def test_roundtrip_with_metadata_and_shapes(tmp_path):
    tensors = {"a": torch.randn(2, 3), "b": torch.arange(5, dtype=torch.int64), "empty": torch.zeros(0, 2)}
    path = tmp_path / "sub" / "x.safetensors"
    save_tensors_atomic(path, tensors, {"note": "hello"})
    loaded, metadata = load_tensors_checked(path, {"a": (2, 3), "b": (5,)})
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())
    assert metadata["note"] == "hello" and metadata["v2v_checksum"] == tensors_checksum(tensors)
    assert [p.name for p in path.parent.iterdir()] == ["x.safetensors"]


def test_checksum_sees_names_values_and_dtypes():
    base = tensors_checksum({"a": torch.zeros(3)})
    assert base != tensors_checksum({"b": torch.zeros(3)})
    assert base != tensors_checksum({"a": torch.tensor([0.0, 0.0, 1e-30])})
    assert base != tensors_checksum({"a": torch.zeros(3, dtype=torch.float64)})
    assert base != tensors_checksum({"a": torch.zeros(1, 3)})


def test_damage_and_mismatches_are_corrupt(tmp_path):
    path = tmp_path / "x.safetensors"
    save_tensors_atomic(path, {"a": torch.randn(4, 4)})
    with pytest.raises(CorruptEntryError, match="has shape"):
        load_tensors_checked(path, {"a": (4, 5)})
    with pytest.raises(CorruptEntryError, match="missing tensor 'b'"):
        load_tensors_checked(path, {"b": (1,)})
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(CorruptEntryError, match="unreadable or truncated"):
        load_tensors_checked(path)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CorruptEntryError, match="checksum mismatch"):
        load_tensors_checked(path)
    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(1)}, str(plain))
    with pytest.raises(CorruptEntryError, match="no checksum"):
        load_tensors_checked(plain)
    with pytest.raises(FileNotFoundError):
        load_tensors_checked(tmp_path / "missing.safetensors")


def test_tensors_sharing_memory_are_stored_separately(tmp_path):
    shared = torch.randn(2, 2)
    save_tensors_atomic(tmp_path / "s.safetensors", {"a": shared, "b": shared, "c": shared[1]})
    loaded, _ = load_tensors_checked(tmp_path / "s.safetensors")
    assert torch.equal(loaded["a"], shared) and torch.equal(loaded["b"], shared) and torch.equal(loaded["c"], shared[1])
