"""Tests of FlowConfig: provider resolution, settings, cache, validation."""

import pytest

from v2v.flow import DISFlowProvider, ExactFlowProvider, FarnebackFlowProvider, FlowCache, FlowConfig, TVL1FlowProvider


def test_auto_resolves_by_data_source(tmp_path):
    config = FlowConfig(cache_dir=str(tmp_path))
    assert isinstance(config.build_provider(has_exact_flow=True), ExactFlowProvider)
    provider = config.build_provider(has_exact_flow=False)
    assert isinstance(provider, DISFlowProvider) and provider.preset == "medium"
    assert isinstance(config.build_cache(), FlowCache)
    assert FlowConfig(cache_dir=None).build_cache() is None


def test_settings_reach_the_providers():
    config = FlowConfig(provider="tvl1", tvl1_attachment=5.0, tvl1_num_iter=4)
    provider = config.build_provider(has_exact_flow=True)
    assert isinstance(provider, TVL1FlowProvider)
    assert provider.settings["attachment"] == 5.0 and provider.settings["num_iter"] == 4
    assert FlowConfig(dis_preset="fast").build_provider(False).preset == "fast"
    assert FlowConfig(provider="raft").provider_settings("raft")["weights"] is None
    farneback = FlowConfig(provider="farneback").build_provider(has_exact_flow=False)
    assert isinstance(farneback, FarnebackFlowProvider) and farneback.settings["winsize"] == 15


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"provider": "flownet2"}, "provider: must be one of"),
        ({"cache_dir": ""}, "cache_dir"),
        ({"dis_preset": "ultraslow"}, "dis_preset: must be one of"),
        ({"tvl1_tightness": -1.0}, "tvl1 tightness"),
        ({"tvl1_num_warp": 0}, "tvl1 num_warp"),
        ({"raft_model": "tiny"}, "raft_model"),
        ({"raft_iterations": 0}, "raft_iterations"),
        ({"raft_weights": ""}, "raft_weights"),
    ],
)
def test_bad_values_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FlowConfig(**kwargs)


def test_exact_needs_exact_data():
    with pytest.raises(ValueError, match="needs a data set with exact flow"):
        FlowConfig(provider="exact").build_provider(has_exact_flow=False)


def test_cache_dir_auto_is_the_users_cache_folder_and_the_environment_overrides_it(tmp_path, monkeypatch):
    from v2v.flow.config import default_cache_dir

    monkeypatch.delenv("V2V_FLOW_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert FlowConfig().cache_root() == tmp_path / "home" / ".cache" / "v2v" / "flows"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "v2v" / "flows"
    monkeypatch.setenv("V2V_FLOW_CACHE", str(tmp_path / "env"))
    cache = FlowConfig(cache_dtype="float16").build_cache()
    assert cache.root == tmp_path / "env" and cache.storage_dtype == "float16"
    assert FlowConfig(cache_dir=str(tmp_path / "mine")).cache_root() == tmp_path / "mine"  # the config wins
    with pytest.raises(ValueError, match="cache_dtype"):
        FlowConfig(cache_dtype="int8")


def test_the_cache_limit_comes_from_the_config_else_the_environment_else_2_gb(tmp_path, monkeypatch):
    monkeypatch.delenv("V2V_FLOW_CACHE_MAX_GB", raising=False)
    assert FlowConfig(cache_dir=str(tmp_path)).build_cache().max_bytes == 2 * 10**9
    monkeypatch.setenv("V2V_FLOW_CACHE_MAX_GB", "0.5")
    assert FlowConfig(cache_dir=str(tmp_path)).build_cache().max_bytes == 500_000_000
    assert FlowConfig(cache_dir=str(tmp_path), cache_max_gb=40).build_cache().max_bytes == 40 * 10**9  # the config wins
    monkeypatch.setenv("V2V_FLOW_CACHE_MAX_GB", "lots")
    with pytest.raises(ValueError, match=r"\$V2V_FLOW_CACHE_MAX_GB must be a positive number of GB, e.g. 2 or 0.5, got 'lots'"):
        FlowConfig(cache_dir=str(tmp_path)).build_cache()
    for bad in (0, -1, "big"):
        with pytest.raises(ValueError, match="cache_max_gb"):
            FlowConfig(cache_max_gb=bad)
