"""Tests of the flow cache: computed once, keyed by content and settings, atomic, self-repairing."""

import os
import warnings

import pytest
import torch

from v2v.flow import DISFlowProvider, ExactFlowProvider, FlowCache, format_bytes, storage


class CountingDIS(DISFlowProvider):
    """DIS that counts how often it really computes."""

    def __init__(self, **settings):
        super().__init__(**settings)
        self.calls = 0

    def compute(self, frames):
        self.calls += 1
        return super().compute(frames)


def frames(seed=0, t=3, h=24, w=32):
    return torch.rand(t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def entries(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_computed_once_then_reused_across_instances(tmp_path):
    provider, clip = CountingDIS(), frames()
    cache = FlowCache(tmp_path)
    first = cache.get_or_compute(clip, provider)
    second = cache.get_or_compute(clip.clone(), provider)  # equal content, another tensor
    assert provider.calls == 1 and cache.misses == 1 and cache.hits == 1
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert first[0].shape == (2, 2, 24, 32)
    later_run = FlowCache(tmp_path)  # a new process / run
    later_run.get_or_compute(clip, provider)
    assert provider.calls == 1 and later_run.hits == 1
    assert len(entries(tmp_path)) == 1 and entries(tmp_path)[0].suffix == ".safetensors"


def test_key_depends_on_content_settings_and_dtype(tmp_path):
    cache = FlowCache(tmp_path)
    clip = frames()
    medium, fast = DISFlowProvider(), DISFlowProvider(preset="fast")
    key = cache.key(clip, medium)
    assert key == cache.key(clip.clone(), DISFlowProvider())
    assert key != cache.key(clip, fast)
    assert key != cache.key(frames(seed=1), medium)
    changed = clip.clone()
    changed[0, 0, 0, 0] += 1e-6
    assert key != cache.key(changed, medium)
    assert key != cache.key(clip.double(), medium)
    cache.get_or_compute(clip, medium)
    cache.get_or_compute(clip, fast)
    assert len(entries(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty"])
def test_damaged_entries_are_detected_and_recomputed(tmp_path, damage):
    provider, clip = CountingDIS(), frames()
    cache = FlowCache(tmp_path)
    good = cache.get_or_compute(clip, provider)
    path = cache.path(cache.key(clip, provider))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * len(data))
    else:
        path.write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="recomputing a damaged entry"):
        repaired = cache.get_or_compute(clip, provider)
    assert provider.calls == 2 and cache.recomputed == 1
    assert torch.equal(repaired[0], good[0]) and torch.equal(repaired[1], good[1])
    rewritten, _ = storage.load_tensors_checked(path)  # rewritten whole
    assert torch.equal(rewritten["flow_fwd"], good[0]) and torch.equal(rewritten["flow_bwd"], good[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.get_or_compute(clip, provider)
    assert provider.calls == 2


def test_entry_with_the_wrong_shape_is_recomputed(tmp_path):
    provider, clip = CountingDIS(), frames()
    cache = FlowCache(tmp_path)
    key = cache.key(clip, provider)
    wrong = torch.zeros(1, 2, 24, 32)
    cache.store(key, wrong, wrong)
    with pytest.warns(RuntimeWarning, match="has shape"):
        flow_fwd, _ = cache.get_or_compute(clip, provider)
    assert flow_fwd.shape == (2, 2, 24, 32) and provider.calls == 1


def test_failed_write_leaves_no_entry_and_no_temporary_file(tmp_path, monkeypatch):
    provider, clip = CountingDIS(), frames()
    cache = FlowCache(tmp_path)

    def failing_save(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"partial")  # a crash in the middle of writing
        raise OSError("disk full")

    monkeypatch.setattr(storage, "save_file", failing_save)
    with pytest.raises(OSError, match="disk full"):
        cache.get_or_compute(clip, provider)
    assert entries(tmp_path) == []
    monkeypatch.undo()
    cache.get_or_compute(clip, provider)
    assert len(entries(tmp_path)) == 1 and not any(p.name.endswith(".tmp") for p in entries(tmp_path))


def test_cache_guards(tmp_path):
    with pytest.raises(ValueError, match="not cached"):
        FlowCache(tmp_path).get_or_compute(frames(), ExactFlowProvider())
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        FlowCache(not_a_folder)
    with pytest.raises(ValueError, match="root"):
        FlowCache("")
    with pytest.raises(ValueError, match=r"\[T, C, H, W\]"):
        FlowCache(tmp_path).get_or_compute(torch.rand(3, 8, 8), DISFlowProvider())
    assert "FlowCache(" in repr(FlowCache(tmp_path))
    assert os.listdir(tmp_path) == ["file"]  # nothing created until the first write


def test_float16_storage_halves_the_entry_and_returns_float32(tmp_path):
    provider, clip = CountingDIS(), frames(t=2, h=48, w=64)
    exact = FlowCache(tmp_path / "f32").get_or_compute(clip, provider)
    half = FlowCache(tmp_path / "f16", storage_dtype="float16")
    computed = half.get_or_compute(clip, provider)
    loaded = half.get_or_compute(clip, provider)
    assert half.misses == 1 and half.hits == 1
    assert computed[0].dtype == loaded[0].dtype == torch.float32
    assert torch.equal(computed[0], loaded[0]) and torch.equal(computed[1], loaded[1])  # a hit returns what the miss did
    error = max(float((a - b).abs().max()) for a, b in zip(exact, loaded))
    assert 0 < error <= float(exact[0].abs().max()) * 2**-11 + 1e-6  # float16's relative rounding
    size = lambda root: sum(p.stat().st_size for p in entries(root))  # noqa: E731
    assert size(tmp_path / "f16") < 0.6 * size(tmp_path / "f32")
    # The two modes never read each other's entries.
    assert half.key(clip, provider) != FlowCache(tmp_path).key(clip, provider)
    with pytest.raises(ValueError, match="storage_dtype"):
        FlowCache(tmp_path, storage_dtype="bfloat16")


def test_float32_keys_are_those_of_the_first_cache_format(tmp_path):
    """Caches written before the float16 mode existed stay valid."""
    import hashlib
    import json

    clip, provider = frames(), DISFlowProvider()
    identity = json.dumps({"format": 1, **provider.identity()}, sort_keys=True)
    digest = hashlib.blake2b(digest_size=20)
    digest.update(identity.encode())
    array = clip.numpy()
    digest.update(f"|{array.dtype}|{tuple(array.shape)}|".encode())
    digest.update(array.tobytes())
    assert FlowCache(tmp_path).key(clip, provider) == digest.hexdigest()


# -- the size limit ---------------------------------------------------------------------------------


def _entry_bytes(tmp_path) -> int:
    """The size of one entry of a 3-frame 24x32 clip (every clip of these tests)."""
    probe = FlowCache(tmp_path / "probe", max_bytes=None)
    probe.get_or_compute(frames(99), DISFlowProvider())
    return probe.usage().bytes


def test_the_least_recently_used_entries_are_evicted_beyond_the_limit(tmp_path):
    size = _entry_bytes(tmp_path)
    provider = CountingDIS()
    cache = FlowCache(tmp_path / "cache", max_bytes=int(3.5 * size))  # room for 3 entries
    for seed in range(3):
        cache.get_or_compute(frames(seed), provider)
        os.utime(cache.path(cache.key(frames(seed), provider)), (1000 + seed, 1000 + seed))  # distinct ages
    cache.get_or_compute(frames(0), provider)  # a hit: clip 0 is now the most recently used
    assert cache.hits == 1 and cache.usage().entries == 3 and cache.evicted == 0
    cache.get_or_compute(frames(3), provider)  # over the limit: trimmed to 90% of it, the least recently used first
    kept = {seed for seed in range(4) if cache.path(cache.key(frames(seed), provider)).is_file()}
    assert kept == {0, 2, 3} and cache.evicted == 1  # clip 1, not clip 0 (older, but used since)
    assert cache.usage().bytes <= 0.9 * cache.max_bytes
    calls = provider.calls
    cache.get_or_compute(frames(1), provider)  # evicted: computed again
    assert provider.calls == calls + 1


def test_a_cache_shared_by_processes_keeps_to_the_limit_and_an_entry_evicted_meanwhile_is_recomputed(tmp_path):
    size = _entry_bytes(tmp_path)
    provider = CountingDIS()
    first, second = FlowCache(tmp_path / "c", max_bytes=int(2.5 * size)), FlowCache(tmp_path / "c", max_bytes=int(2.5 * size))
    first.get_or_compute(frames(0), provider)
    second.get_or_compute(frames(1), provider)
    first.get_or_compute(frames(2), provider)  # first's count is listed from disk at its first store: all three
    assert first.usage().entries <= 2
    path = first.path(first.key(frames(2), provider))
    path.unlink()  # another process evicts the entry between the existence check and the read
    assert first.load(first.key(frames(2), provider), (2, 2, 24, 32)) is None


def test_usage_clear_and_the_one_line_description(tmp_path):
    cache = FlowCache(tmp_path / "cache", max_bytes=2 * 10**9)
    assert cache.usage().entries == 0 and cache.clear() == 0  # an absent folder holds nothing
    for seed in range(2):
        cache.get_or_compute(frames(seed), DISFlowProvider())
    (cache.path("ab" + "0" * 38).parent).mkdir(parents=True, exist_ok=True)
    (cache.path("ab" + "0" * 38).parent / ".x.safetensors.123.tmp").write_bytes(b"killed writer")
    usage = cache.usage()
    assert usage.entries == 2 and usage.bytes == sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*.safetensors"))
    assert usage.describe() == f"flow cache {tmp_path / 'cache'}: {format_bytes(usage.bytes)} in 2 entries (limit 2 GB)"
    assert cache.clear() == 2
    assert list((tmp_path / "cache").rglob("*")) == []


def test_bytes_are_shown_in_decimal_units():
    assert [format_bytes(n) for n in (12, 12_345, 694_000_000, 2 * 10**9, 123_456_789_000)] == [
        "12 bytes", "12.3 kB", "694 MB", "2 GB", "123 GB"]


def test_a_bad_limit_is_refused(tmp_path):
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_bytes must be a positive number of bytes or None"):
            FlowCache(tmp_path, max_bytes=bad)
