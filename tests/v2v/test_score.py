"""``python -m v2v.score`` and the stream scoring of :mod:`v2v.scoring` against independent calculations.

The ``lai`` protocol is checked against a direct NumPy transcription of Lai et al.'s released
``evaluate_WarpError.py`` and ``utils.detect_occlusion`` (written below, sharing no code with the
package); videos come from :mod:`v2v.data.synthetic`, whose flows are exact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import v2vcore
from v2v.data.synthetic import synthetic_clip
from v2v.data.video_io import open_video_reader
from v2v.data.video_writer import VideoWriter
from v2v.flow import make_flow_provider
from v2v.metrics import MaskScorer, warping_error_per_pair
from v2v.metrics.consistency import ConsistencyScorer, pair_warping_errors
from v2v.score import main
from v2v.scoring import PROTOCOLS, score_videos

pytestmark = pytest.mark.skipif(
    not v2vcore.has_cpu_kernels(), reason="the compiled v2vcore op is not built (pip install --no-build-isolation -e .)"
)


# -- Lai et al.'s evaluation, transcribed from their repository (phoenix104104/fast_blind_video_consistency) --


def _lai_resample2d(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Their Resample2d kernel: bilinear at p + flow(p), each of the four taps clamped to the frame."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xf, yf = xs + flow[:, :, 0], ys + flow[:, :, 1]
    alpha, beta = xf - np.floor(xf), yf - np.floor(yf)
    x_left = np.clip(np.floor(xf), 0, width - 1).astype(int)
    x_right = np.clip(np.floor(xf) + 1, 0, width - 1).astype(int)
    y_top = np.clip(np.floor(yf), 0, height - 1).astype(int)
    y_bottom = np.clip(np.floor(yf) + 1, 0, height - 1).astype(int)
    a, b = alpha[:, :, None], beta[:, :, None]
    return ((1 - a) * (1 - b) * image[y_top, x_left] + a * (1 - b) * image[y_top, x_right]
            + (1 - a) * b * image[y_bottom, x_left] + a * b * image[y_bottom, x_right]).astype(np.float32)


def _lai_detect_occlusion(fw_flow: np.ndarray, bw_flow: np.ndarray) -> np.ndarray:
    """``utils.detect_occlusion(fw_flow, bw_flow)``, with their parameter names."""
    fw_flow_w = _lai_resample2d(fw_flow, bw_flow)
    magnitude = lambda flow: flow[:, :, 0] ** 2 + flow[:, :, 1] ** 2  # noqa: E731
    mask1 = magnitude(fw_flow_w + bw_flow) > 0.01 * (magnitude(fw_flow_w) + magnitude(bw_flow)) + 0.5
    height, width = bw_flow.shape[:2]
    grads = []
    for component in (bw_flow[:, :, 0], bw_flow[:, :, 1]):
        du, dv = np.zeros((height, width)), np.zeros((height, width))
        du[:, :-1] = component[:, :-1] - component[:, 1:]
        dv[:-1, :] = component[:-1, :] - component[1:, :]
        grads.append(du**2 + dv**2)
    mask2 = grads[0] + grads[1] > 0.01 * magnitude(bw_flow) + 0.002
    return np.logical_or(mask1, mask2).astype(np.float64)


def _lai_warping_errors(frames: np.ndarray, fw_flows: np.ndarray, bw_flows: np.ndarray) -> np.ndarray:
    """Per-pair errors of ``evaluate_WarpError.py``; frames ``[T, H, W, 3]`` float32 in [0, 1], flows ``[T-1, H, W, 2]``.

    Their ``compute_flow_occlusion.py`` stores ``detect_occlusion(bw_flow, fw_flow)`` as the mask of
    frame t-1, and the evaluation warps frame t with the forward flow t-1 -> t.
    """
    errors = []
    for t in range(1, len(frames)):
        img1, img2 = frames[t - 1], frames[t]
        occ = _lai_detect_occlusion(bw_flows[t - 1], fw_flows[t - 1])
        noc_mask = np.repeat((1 - occ)[:, :, None], 3, axis=2)  # read back as a 3-channel image
        warp_img2 = _lai_resample2d(img2, fw_flows[t - 1])
        diff = np.multiply(warp_img2 - img1, noc_mask)
        count = np.sum(noc_mask)
        if count == 0:
            count = diff.shape[0] * diff.shape[1] * diff.shape[2]
        errors.append(np.sum(np.square(diff)) / count)
    return np.array(errors)


def _hwc(video: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(video.permute(0, 2, 3, 1).numpy())


def _score(frames: torch.Tensor, flow_fwd: torch.Tensor, flow_bwd: torch.Tensor, convention: str) -> dict:
    scorer = ConsistencyScorer(convention)
    for t in range(len(frames)):
        flows = (flow_fwd[t - 1], flow_bwd[t - 1]) if t else (None, None)
        scorer.update(frames[t], *flows)
    return {"summary": scorer.summary(), **{key: np.array(values) for key, values in scorer.per_pair.items()}}


@pytest.fixture(scope="module")
def clip():
    torch.set_num_threads(1)  # per-pair calls on small frames: threads only contend on a shared machine
    return synthetic_clip(seed=1, size=(72, 96), num_frames=7)


def _write_folder(path: Path, frames_hwc_uint8) -> Path:
    with VideoWriter(path) as writer:
        for frame in frames_hwc_uint8:
            writer.write(frame)
    return path


def _uint8(video: torch.Tensor) -> np.ndarray:
    return np.rint(_hwc(video.clamp(0, 1)) * 255).astype(np.uint8)


# -- the lai protocol ------------------------------------------------------------------------------


def test_lai_convention_reproduces_the_numpy_transcription_with_exact_flows(clip):
    frames = clip["frames"]
    noisy = (frames + 0.03 * torch.randn(frames.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    bumpy_bwd = clip["flow_bwd"] + 0.4 * torch.randn(clip["flow_bwd"].shape, generator=torch.Generator().manual_seed(1))
    for video, flow_bwd in ((frames, clip["flow_bwd"]), (noisy, clip["flow_bwd"]), (noisy, bumpy_bwd)):
        expected = _lai_warping_errors(_hwc(video), _hwc(clip["flow_fwd"]), _hwc(flow_bwd))
        got = _score(video, clip["flow_fwd"], flow_bwd, "lai")["warping_error"]
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-9)
    # the bumpy backward flow makes the occlusion test bite: the mask is not trivially all-true
    mask_fraction = pair_warping_errors(noisy[:-1], noisy[1:], clip["flow_fwd"], bumpy_bwd, "lai").reliable_fraction
    assert 0.05 < mask_fraction.mean() < 0.95


def test_lai_protocol_on_the_command_line_matches_the_transcription_with_dis_flows(clip, tmp_path, capsys):
    reference = _uint8(clip["frames"])
    output = _uint8(clip["frames"] + 0.03 * torch.randn(clip["frames"].shape, generator=torch.Generator().manual_seed(2)))
    _write_folder(tmp_path / "reference", reference)
    _write_folder(tmp_path / "output", output)
    result = tmp_path / "scores.json"
    code = main([str(tmp_path / "output"), "--reference", str(tmp_path / "reference"), "--protocol", "lai",
                 "--quiet", "--no-tof", "--json", str(result)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(result.read_text())
    provider = make_flow_provider("dis")
    pairs = [provider.compute(torch.from_numpy(reference[t - 1 : t + 1]).permute(0, 3, 1, 2)) for t in range(1, len(reference))]
    fw = np.stack([pair[0][0].permute(1, 2, 0).numpy() for pair in pairs])
    bw = np.stack([pair[1][0].permute(1, 2, 0).numpy() for pair in pairs])
    expected = _lai_warping_errors(output.astype(np.float32) / 255.0, fw, bw)
    video = report["videos"][0]
    np.testing.assert_allclose(video["per_frame"]["warping_error"], expected, rtol=2e-4, atol=1e-9)
    assert video["warping_error"] == pytest.approx(expected.mean(), rel=2e-4)
    assert report["protocol"]["name"] == "lai" and report["protocol"]["flow"]["provider"] == "dis"
    assert "computed on the reference" in capsys.readouterr().out


# -- what the numbers mean -------------------------------------------------------------------------


@pytest.mark.parametrize("convention", ["v2v", "lai"])
def test_ground_truth_scores_only_interpolation_error_and_flicker_scores_in_proportion(clip, convention):
    frames = clip["frames"] * 0.8 + 0.1  # headroom: the flicker below is never clipped
    sign = torch.tensor([(-1.0) ** t for t in range(len(frames))])
    scores = {}
    for amplitude in (0.0, 0.01, 0.02, 0.04):
        video = frames + amplitude * sign[:, None, None, None]
        scores[amplitude] = _score(video, clip["flow_fwd"], clip["flow_bwd"], convention)["summary"]
    floor = scores[0.0]
    assert floor["warping_error"] < 1e-4  # exact flows: what is left is resampling error
    for amplitude in (0.01, 0.02, 0.04):
        # a brightness step of 2a between frames adds (2a)^2 to the MSE and 2a to the L1
        assert scores[amplitude]["warping_error"] - floor["warping_error"] == pytest.approx(4 * amplitude**2, rel=0.1)
        assert scores[amplitude]["warping_error_l1"] == pytest.approx(2 * amplitude, rel=0.15)
    assert scores[0.04]["flicker"] > scores[0.02]["flicker"] > scores[0.01]["flicker"] > floor["flicker"]


def test_v2v_convention_is_what_evaluate_computes(clip):
    video = (clip["frames"] + 0.05 * torch.randn(clip["frames"].shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    streamed = _score(video, clip["flow_fwd"], clip["flow_bwd"], "v2v")["warping_error"]
    np.testing.assert_allclose(streamed, warping_error_per_pair(video, clip["flow_fwd"], clip["flow_bwd"]), rtol=1e-6)


def test_lai_and_v2v_differ_where_content_enters_the_frame():
    # A texture translating right by 2 px per frame with exact integer flows: the v2v convention
    # masks the pixels whose source is outside the frame (error 0); Lai's has no inside test and
    # reads the clamped border there.
    rng = np.random.default_rng(0)
    base = torch.from_numpy(rng.random((3, 24, 60))).float()
    video = torch.stack([base[:, :, 20 - 2 * t : 20 - 2 * t + 32] for t in range(5)])
    flow_fwd = torch.zeros(4, 2, 24, 32)
    flow_fwd[:, 0] = 2.0
    flow_bwd = -flow_fwd
    v2v = _score(video, flow_fwd, flow_bwd, "v2v")["summary"]["warping_error"]
    lai = _score(video, flow_fwd, flow_bwd, "lai")["summary"]["warping_error"]
    assert v2v == pytest.approx(0.0, abs=1e-12)
    assert lai > 1e-3
    expected = _lai_warping_errors(_hwc(video), _hwc(flow_fwd), _hwc(flow_bwd)).mean()
    assert lai == pytest.approx(expected, rel=1e-4)


def test_output_flow_protocol_calls_a_frozen_video_consistent(clip, tmp_path, capsys):
    reference = _uint8(clip["frames"])
    frozen = np.repeat(reference[:1], len(reference), axis=0)
    _write_folder(tmp_path / "reference", reference)
    _write_folder(tmp_path / "frozen", frozen)
    results = {}
    for protocol in ("v2v", "lai", "output-flow"):
        report = score_videos([str(tmp_path / "frozen")], str(tmp_path / "reference"), protocol=protocol)
        results[protocol] = report["videos"][0]
    assert results["output-flow"]["warping_error"] == pytest.approx(0.0, abs=1e-12)
    assert results["v2v"]["warping_error"] > 1e-4 and results["lai"]["warping_error"] > 1e-4
    assert results["v2v"]["flicker"] == 0.0
    assert results["v2v"]["tOF"] > 0.5  # the reference moves, the output does not


# -- outputs of the command ------------------------------------------------------------------------


def test_json_csv_plot_and_table(clip, tmp_path, capsys):
    reference = _uint8(clip["frames"])
    shifted = np.clip(reference.astype(np.int16) + np.where(np.arange(len(reference)) % 2, 12, -12)[:, None, None, None], 0, 255).astype(np.uint8)
    _write_folder(tmp_path / "reference", reference)
    _write_folder(tmp_path / "a", reference)
    _write_folder(tmp_path / "b", shifted)
    files = {name: tmp_path / f"out.{name}" for name in ("json", "csv", "png")}
    code = main([str(tmp_path / "a"), str(tmp_path / "b"), "--reference", str(tmp_path / "reference"),
                 "--flow-cache", str(tmp_path / "cache"), "--quiet", "--json", str(files["json"]),
                 "--csv", str(files["csv"]), "--plot", str(files["png"])])
    out, err = capsys.readouterr()
    assert code == 0
    # --flow-cache keeps the flows of the reference and of both outputs (tOF; output a is the reference
    # itself, so its entries are the reference's), and says so in one line
    stored = list((tmp_path / "cache").rglob("*.safetensors"))
    assert len(stored) == 2 * (len(reference) - 1)
    assert f"flow cache {tmp_path / 'cache'}: " in err and f" in {len(stored)} entries (limit 2 GB)" in err
    report = json.loads(files["json"].read_text())
    assert set(report) == {"protocol", "videos"}
    assert [video["path"] for video in report["videos"]] == [str(tmp_path / "a"), str(tmp_path / "b")]
    for video in report["videos"]:
        for key in ("warping_error", "warping_error_l1", "tOF", "flicker"):
            assert len(video["per_frame"][key]) == len(reference) - 1
            assert video[key] == pytest.approx(np.mean(video["per_frame"][key]))
    assert report["videos"][1]["warping_error"] > 10 * report["videos"][0]["warping_error"]
    for field in ("warp", "mask", "norm", "pairs", "value_range", "scale", "flow"):
        assert report["protocol"][field]
    lines = files["csv"].read_text().splitlines()
    assert lines[0] == "video,frame,warping_error,warping_error_l1,tOF,flicker"
    assert len(lines) == 1 + 2 * len(reference)
    assert lines[1].endswith(",0,,,,")  # frame 0 closes no pair
    assert float(lines[2].split(",")[2]) == pytest.approx(report["videos"][0]["per_frame"]["warping_error"][0])
    from PIL import Image

    with Image.open(files["png"]) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB")).astype(int)
    # One curve per video, in matplotlib's first two colours: a blank or one-curve plot fails.
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - colour).sum(axis=2) < 30).sum() > 200
    assert "protocol v2v" in out and "warp:" in out and "mask:" in out and str(tmp_path / "b") in out
    assert list((tmp_path / "cache").glob("*/*.safetensors"))  # the flows went through the cache


def test_davis_protocol_scores_mask_videos(tmp_path):
    height, width, count = 48, 64, 6
    yy, xx = np.mgrid[0:height, 0:width]
    masks = [((yy - 24) ** 2 + (xx - 20 - 3 * t) ** 2 < 100) for t in range(count)]
    rgb = [np.where(mask[:, :, None], np.array([200, 80, 40], np.uint8), np.array([30, 90, 160], np.uint8)) for mask in masks]
    _write_folder(tmp_path / "reference", rgb)
    _write_folder(tmp_path / "target", [mask.astype(np.uint8) * 255 for mask in masks])
    _write_folder(tmp_path / "perfect", [mask.astype(np.uint8) * 255 for mask in masks])
    _write_folder(tmp_path / "empty", [np.zeros((height, width), np.uint8)] * count)
    report = score_videos([str(tmp_path / "perfect"), str(tmp_path / "empty")], str(tmp_path / "reference"),
                          protocol="davis", target=str(tmp_path / "target"))
    perfect, empty = report["videos"]
    assert perfect["J"] == 1.0 and perfect["F"] == 1.0 and perfect["J_recall"] == 1.0
    assert perfect["T"] == pytest.approx(0.0, abs=1e-9)  # a translated disk has a stable shape
    assert empty["J"] == 0.0 and empty["F"] == 0.0 and np.isnan(empty["T"])
    assert len(perfect["per_frame"]["J"]) == count and len(perfect["per_frame"]["T"]) == count - 1
    # an H.264 mask video (compression noise around the edges) still reads as masks
    _write_folder(tmp_path / "perfect.mp4", [mask.astype(np.uint8) * 255 for mask in masks])
    compressed = score_videos([str(tmp_path / "perfect.mp4")], str(tmp_path / "reference"), protocol="davis",
                              target=str(tmp_path / "target"), tof=False)["videos"][0]
    assert compressed["J"] > 0.98 and compressed["F"] > 0.98
    direct = MaskScorer()
    for mask in masks:
        direct.update(mask, mask)
    assert direct.summary()["J"] == 1.0


# -- bad input -------------------------------------------------------------------------------------


def _run_bad(args: list[str], capsys, tmp_path: Path) -> str:
    result = tmp_path / "never.json"
    code = main([*args, "--quiet", "--json", str(result), "--csv", str(tmp_path / "never.csv")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err
    assert not result.exists() and not (tmp_path / "never.csv").exists()
    return err


def test_bad_input_is_one_line_exit_2_and_writes_nothing(clip, tmp_path, capsys):
    reference = _uint8(clip["frames"])
    ref = str(_write_folder(tmp_path / "reference", reference))
    short = str(_write_folder(tmp_path / "short", reference[:-2]))
    small = str(_write_folder(tmp_path / "small", reference[:, :, :-8]))
    missing = str(tmp_path / "missing.mp4")

    err = _run_bad([missing, "--reference", ref], capsys, tmp_path)
    assert missing in err
    err = _run_bad([ref, "--reference", missing], capsys, tmp_path)
    assert missing in err
    err = _run_bad([short, "--reference", ref], capsys, tmp_path)
    assert short in err and ref in err and "5 frames" in err and "7" in err
    err = _run_bad([small, "--reference", ref], capsys, tmp_path)
    assert small in err and ref in err and "72x88" in err and "72x96" in err
    err = _run_bad([ref, "--reference", ref, "--protocol", "davis", "--target", ref], capsys, tmp_path)
    assert "not a mask" in err
    err = _run_bad([ref, "--reference", ref, "--protocol", "davis"], capsys, tmp_path)
    assert "--target" in err

    corrupt = tmp_path / "corrupt"
    _write_folder(corrupt, reference)
    (corrupt / "000003.png").write_bytes(b"not a png at all")
    err = _run_bad([str(corrupt), "--reference", ref], capsys, tmp_path)
    assert "000003.png" in err
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("hello")
    err = _run_bad([str(not_a_video), "--reference", ref], capsys, tmp_path)
    assert str(not_a_video) in err


def test_a_length_mismatch_found_while_streaming_names_both(clip, tmp_path, monkeypatch):
    # A video file whose container does not state its length is only found short while reading.
    reference = _uint8(clip["frames"])
    ref = str(_write_folder(tmp_path / "reference", reference))
    short = str(_write_folder(tmp_path / "short", reference[:-1]))

    class UnknownLength:
        def __init__(self, path):
            self.reader = open_video_reader(path)
            self.frame_size, self.num_frames = self.reader.frame_size, None

        def __iter__(self):
            return iter(self.reader)

    monkeypatch.setattr("v2v.data.video_io.open_video_reader", lambda path, fps=None: UnknownLength(path))
    with pytest.raises(ValueError, match=f"OUTPUT {short} has 6 frames but --reference {ref} has 7"):
        score_videos([short], ref, tof=False)


def test_protocols_are_documented():
    for name, protocol in PROTOCOLS.items():
        assert protocol.name == name
        assert all(protocol.describe().values())
    text = Path(__file__).resolve().parents[2].joinpath("docs", "metrics.md").read_text()
    assert "## Scoring any video" in text
    for name in PROTOCOLS:
        assert f"`{name}`" in text


# -- bounded memory --------------------------------------------------------------------------------


def _peak_rss_of_run(args: list[str]) -> tuple[int, float]:
    """Run ``python -m v2v.score`` in a subprocess and sample its resident memory every 20 ms."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen([sys.executable, "-m", "v2v.score", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    started = time.perf_counter()

    def sample():
        nonlocal peak
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
            except (FileNotFoundError, ProcessLookupError):
                break
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = process.communicate()
    sampler.join()
    assert process.returncode == 0, err.decode()[-2000:]
    return peak, time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
def test_a_long_video_is_scored_in_flat_memory(tmp_path):
    # 3000 frames of 48x64: held whole as float32 the video would take 110 MB (27 MB as uint8).
    count, height, width = 3000, 48, 64
    rng = np.random.default_rng(0)
    texture = (rng.random((height, width + count // 10 + 8, 3)) * 255).astype(np.uint8)
    frames = [texture[:, t // 10 : t // 10 + width] for t in range(count)]
    _write_folder(tmp_path / "long", frames)
    common = [str(tmp_path / "long"), "--reference", str(tmp_path / "long"), "--quiet", "--no-tof"]
    short_peak, short_seconds = _peak_rss_of_run([*common, "--max-frames", "300"])
    long_peak, long_seconds = _peak_rss_of_run(common)
    growth = long_peak - short_peak
    print(f"peak RSS: 300 frames {short_peak / 2**20:.1f} MiB ({short_seconds:.1f} s), "
          f"3000 frames {long_peak / 2**20:.1f} MiB ({long_seconds:.1f} s), growth {growth / 2**20:.2f} MiB")
    assert growth < 8 * 2**20


# -- translate --score -----------------------------------------------------------------------------


def test_translate_score_prints_what_v2v_score_computes_on_the_written_video(tmp_path, monkeypatch, capsys):
    from v2v.translate import main as translate_main

    from _run_fixtures import make_run

    monkeypatch.setenv("V2V_FLOW_CACHE", str(tmp_path / "cache"))  # where the default flow cache lands
    run = make_run(tmp_path / "run", "colorization")
    rng = np.random.default_rng(0)
    texture = (rng.random((32, 60, 3)) * 255).astype(np.uint8)
    source = _write_folder(tmp_path / "input", [texture[:, t : t + 40] for t in range(6)])
    output = tmp_path / "output"
    assert translate_main(["--checkpoint", str(run), "--input", str(source), "--output", str(output), "--quiet", "--score"]) == 0
    printed = capsys.readouterr().out
    assert "protocol v2v" in printed and "warping_error" in printed and str(output) in printed
    # the same numbers from the written frames, read back
    expected = score_videos([str(output)], str(source))["videos"][0]
    row = next(line for line in printed.splitlines() if line.startswith(str(output)))
    values = [float(cell) for cell in row.split()[2:]]
    assert values == pytest.approx([expected[key] for key in ("warping_error", "warping_error_l1", "tOF", "flicker")], rel=1e-5)
