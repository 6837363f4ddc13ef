"""CUDA graphs of the UNet (refedit.pipeline.graphs): when they may stand for the UNet, and the settings that turn
them on. The replay itself needs a GPU: the CUDA tests run on the GPU machine (``benchmarks/gpu.sh``) and are
skipped here."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from refedit.cli import main
from refedit.config import Settings
from refedit.errors import BadInput
from refedit.pipeline.graphs import GraphedUNet, signature
from refedit.pipeline.models import ModelStore
from refedit.pipeline.sd import StableDiffusion

from .conftest import EXAMPLES

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def sd_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Only the tiny SD 1.5 (the CUDA tests run on the GPU machine within a minute: no other model is built)."""
    from refedit.testing.tiny_models import build_tiny_sd

    sd = build_tiny_sd(tmp_path_factory.mktemp("graphs") / "sd")
    return Settings(models={**Settings().models, "sd": str(sd)}, device="cpu")


def unet_inputs(sd: StableDiffusion, batch: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    unet = sd.unet
    g = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, unet.config.in_channels, 8, 8, generator=g).to(device, unet.dtype)
    text = torch.randn(batch, 4, unet.config.cross_attention_dim, generator=g).to(device, unet.dtype)
    return x, torch.tensor(501, device=device), text


def test_on_the_cpu_the_graphed_unet_is_the_eager_unet(sd_settings):
    sd = StableDiffusion(ModelStore(sd_settings))
    graphed = GraphedUNet(sd.unet)
    x, t, text = unet_inputs(sd, 2)
    with torch.inference_mode():
        assert not graphed.usable(x)
        out = graphed(x, t, text)
        want = sd.unet(x, t, encoder_hidden_states=text).sample
    assert torch.equal(out, want) and graphed.captures == 0 and not graphed.graphs


def test_a_failed_capture_falls_back_to_the_eager_unet_once(sd_settings):
    """A UNet that cannot be captured (here: a capture that raises, as a kernel that cannot be captured would) runs
    eagerly, with one warning, and the capture is not tried again for that signature."""
    from refedit.errors import RefEditWarning

    class Uncapturable(GraphedUNet):
        tries = 0

        def usable(self, sample: torch.Tensor) -> bool:
            return True

        def _capture(self, *args):  # type: ignore[no-untyped-def]
            self.tries += 1
            raise RuntimeError("operation not permitted when stream is capturing")

    sd = StableDiffusion(ModelStore(sd_settings))
    graphed = Uncapturable(sd.unet)
    x, t, text = unet_inputs(sd, 1)
    with torch.inference_mode():
        with pytest.warns(RefEditWarning, match="capture of the UNet failed"):
            first = graphed(x, t, text)
        second = graphed(x, t, text)
        want = sd.unet(x, t, encoder_hidden_states=text).sample
    assert torch.equal(first, want) and torch.equal(second, want)
    assert graphed.tries == 1 and not graphed.graphs


def test_eps_with_cuda_graphs_on_runs_eagerly_on_the_cpu(sd_settings):
    """``cuda_graphs = "on"`` changes nothing on a CPU: the same ε as without."""
    plain = StableDiffusion(ModelStore(sd_settings))
    graphs = StableDiffusion(ModelStore(replace(sd_settings, cuda_graphs="on")))
    x, _, text = unet_inputs(plain, 1)
    with torch.inference_mode():
        assert not graphs.cuda_graphs(x)
        assert torch.equal(plain.eps(x, 501, text), graphs.eps(x, 501, text))


def test_auto_means_graphs_on_cuda_with_every_model_resident():
    """``auto`` (the default) turns graphs on for CUDA without offload, measured equal to the eager UNet and 2.6x
    faster end to end on an H100; an offloaded UNet comes back elsewhere each edit, so auto leaves them off there."""
    on = {(g, o) for g in ("auto", "on", "off") for o in ("none", "model", "sequential")
          if Settings(cuda_graphs=g, offload=o).graphs_on("cuda")}
    assert on == {("auto", "none"), ("on", "none"), ("on", "model")}
    assert not any(Settings(cuda_graphs=g).graphs_on(d) for g in ("auto", "on") for d in ("cpu", "mps"))


def test_signature_separates_the_inversion_batch_from_the_guided_batch(sd_settings):
    sd = StableDiffusion(ModelStore(sd_settings))
    one, two = unet_inputs(sd, 1), unet_inputs(sd, 2)
    assert signature(*one) != signature(*two)
    assert signature(*one) == signature(*unet_inputs(sd, 1))


def test_cuda_graphs_setting_from_flag_env_and_file(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('cuda_graphs = "on"\n')
    assert Settings.resolve(environ={}, config_file=Path(os.devnull)).cuda_graphs == "auto"
    assert Settings.resolve(environ={}, config_file=cfg).cuda_graphs == "on"
    assert Settings.resolve(environ={"REFEDIT_CUDA_GRAPHS": "off"}, config_file=cfg).cuda_graphs == "off"
    assert Settings.resolve(cuda_graphs="auto", environ={"REFEDIT_CUDA_GRAPHS": "off"}, config_file=cfg).cuda_graphs == "auto"
    with pytest.raises(BadInput, match="cuda-graphs"):
        Settings.resolve(environ={"REFEDIT_CUDA_GRAPHS": "yes"}, config_file=Path(os.devnull))
    r = CliRunner().invoke(main, ["edit", str(EXAMPLES / "cat.jpg"), "replace the cat", "-o", str(tmp_path / "o.png"),
                                  "--cuda-graphs", "sometimes"])  # fmt: skip
    assert r.exit_code == 2 and "sometimes" in r.output and not (tmp_path / "o.png").exists()


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU (run by benchmarks/gpu.sh)")
def test_graph_replay_matches_the_eager_unet_on_cuda(sd_settings):
    sd = StableDiffusion(ModelStore(replace(sd_settings, device="cuda", dtype="float16", cuda_graphs="on")))
    graphed = GraphedUNet(sd.unet)
    with torch.inference_mode():
        for batch in (1, 2, 1, 2):
            x, t, text = unet_inputs(sd, batch, "cuda")
            want = graphed.eager(x, t, text)
            got = graphed(x, t, text)
            torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)
        assert graphed.captures == 2  # one graph per batch size, replayed after
        x, t, text = unet_inputs(sd, 1, "cuda")
        a = graphed(x, t, text)
        b = graphed(x, t, text)
        assert torch.equal(a, b)  # deterministic replay, and each call gets its own copy of the output
        assert a.data_ptr() != b.data_ptr()


@pytest.mark.skipif(not CUDA, reason="CUDA graphs need a GPU (run by benchmarks/gpu.sh)")
def test_swapped_attention_processors_run_eagerly_on_cuda(sd_settings):
    """Ref-Diff's attention capture swaps the processors in: the graph must not stand in for that UNet."""
    from refedit.pipeline.segment.refdiff.attention import capture_attention

    sd = StableDiffusion(ModelStore(replace(sd_settings, device="cuda", dtype="float16", cuda_graphs="on")))
    graphed = GraphedUNet(sd.unet)
    x, t, text = unet_inputs(sd, 1, "cuda")
    with torch.inference_mode():
        graphed(x, t, text)
        with capture_attention(sd.unet, None) as store:
            assert not graphed.usable(x)
            graphed(x, t, text)
        assert store.resolutions  # the eager run went through the capturing processors
        assert graphed.usable(x)
