"""Cross-attention capture (Ref-Diff Eq. 4-5) on the tiny real-architecture UNet."""

from __future__ import annotations

import pytest
import torch

from refedit.pipeline.segment.refdiff.attention import capture_attention, normalize_attention


@pytest.fixture(scope="module")
def unet(tiny_models):  # type: ignore[no-untyped-def]
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel.from_pretrained(
        tiny_models["sd"], subfolder="unet"
    ).eval()


def _inputs(
    batch: int = 1, hw: int = 16, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 4, hw, hw, generator=g), torch.randn(
        batch, 77, 32, generator=g
    )


def test_captured_map_equals_manual_softmax(unet) -> None:  # type: ignore[no-untyped-def]
    x, text = _inputs()
    seen: list[torch.Tensor] = []

    def hook(module, args, kwargs):  # type: ignore[no-untyped-def]
        hs = args[0] if args else kwargs["hidden_states"]
        enc = kwargs.get("encoder_hidden_states")
        if enc is None or hs.shape[1] != 16 * 16:
            return
        q, k = module.to_q(hs), module.to_k(enc)
        b, n, _ = q.shape
        q = q.view(b, n, module.heads, -1).transpose(1, 2)
        k = k.view(b, k.shape[1], module.heads, -1).transpose(1, 2)
        probs = torch.softmax(
            q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1
        )  # Eq. 4
        seen.append(probs.mean(dim=1))

    from diffusers.models.attention_processor import Attention

    handles = [
        m.register_forward_pre_hook(hook, with_kwargs=True)
        for m in unet.modules()
        if isinstance(m, Attention)
    ]
    try:
        with torch.no_grad(), capture_attention(unet, (16, 16)) as store:
            unet(x, 10, encoder_hidden_states=text)
    finally:
        for h in handles:
            h.remove()
    assert seen, "no cross-attention layer at 16x16 in the tiny UNet"
    assert store.resolutions == (256,) and store.calls(256) == len(seen)
    manual = torch.stack(seen).mean(dim=0)
    torch.testing.assert_close(store.maps(256), manual, atol=1e-6, rtol=1e-5)
    assert store.spatial((16, 16)).shape == (1, 77, 16, 16)
    torch.testing.assert_close(
        store.maps(256).sum(-1), torch.ones(1, 256), atol=1e-5, rtol=0
    )


def test_output_unchanged_and_processors_restored(unet) -> None:  # type: ignore[no-untyped-def]
    x, text = _inputs()
    before = dict(unet.attn_processors)
    with torch.no_grad():
        plain = unet(x, 10, encoder_hidden_states=text).sample
        with capture_attention(unet, None) as store:
            captured = unet(x, 10, encoder_hidden_states=text).sample
    assert store.resolutions  # something was captured
    torch.testing.assert_close(captured, plain, atol=1e-5, rtol=1e-4)
    after = unet.attn_processors
    assert after.keys() == before.keys() and all(after[k] is before[k] for k in before)


def test_processors_restored_after_exception(unet) -> None:  # type: ignore[no-untyped-def]
    before = dict(unet.attn_processors)
    with pytest.raises(RuntimeError, match="boom"), capture_attention(unet, (16, 16)):
        assert all(
            type(p).__name__ == "CaptureAttnProcessor"
            for p in unet.attn_processors.values()
        )
        raise RuntimeError("boom")
    after = unet.attn_processors
    assert all(after[k] is before[k] for k in before)


def test_keep_selects_the_conditional_half(unet) -> None:  # type: ignore[no-untyped-def]
    x, text = _inputs(batch=2, seed=1)
    with torch.no_grad():
        with capture_attention(unet, (16, 16), keep=(1,)) as both:
            unet(x, 10, encoder_hidden_states=text)
        with capture_attention(unet, (16, 16)) as alone:
            unet(x[1:], 10, encoder_hidden_states=text[1:])
    assert both.maps(256).shape[0] == 1
    torch.testing.assert_close(both.maps(256), alone.maps(256), atol=1e-5, rtol=1e-4)


def test_other_resolutions_are_not_captured(unet) -> None:  # type: ignore[no-untyped-def]
    x, text = _inputs()
    with torch.no_grad(), capture_attention(unet, (3, 3)) as store:
        unet(x, 10, encoder_hidden_states=text)
    assert store.resolutions == ()


def test_normalize_attention_eq5() -> None:
    a = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    c = normalize_attention(a, (8, 6))
    assert c.shape == (8, 6) and c.dtype == torch.float32
    # φ is a bilinear resize of the normalised map [[0, .25], [.5, 1]]: the corners keep the source corners,
    # rows rise left to right and columns top to bottom, as in the source (clamping to [0, 1] would hide none
    # of these)
    corners = c[[0, 0, -1, -1], [0, -1, 0, -1]]
    torch.testing.assert_close(corners, torch.tensor([0.0, 0.25, 0.5, 1.0]), atol=1e-6, rtol=0)
    assert bool((c.diff(dim=1) > -1e-6).all() and (c.diff(dim=0) > -1e-6).all())
    assert float(c[0].max()) < 0.5 and float(c[-1].min()) > 0.25  # top row between 0 and .25, bottom .5 to 1
    same = normalize_attention(a, (2, 2))
    torch.testing.assert_close(
        same, torch.tensor([[0.0, 0.25], [0.5, 1.0]]), atol=1e-6, rtol=0
    )
    batch = normalize_attention(torch.stack([a, 2 * a + 7]), (2, 2))
    torch.testing.assert_close(batch[0], batch[1], atol=1e-6, rtol=0)


def test_capture_runs_diffusers_own_attn_processor(unet) -> None:  # type: ignore[no-untyped-def]
    """The capturing processor is diffusers' ``AttnProcessor`` (a subclass adding nothing to the computation):
    with diffusers' ``AttnProcessor`` on every layer, the UNet's output under capture is the same bit for bit."""
    from diffusers.models.attention_processor import AttnProcessor

    x, text = _inputs()
    before = dict(unet.attn_processors)
    try:
        unet.set_attn_processor(AttnProcessor())
        with torch.no_grad():
            reference = unet(x, 10, encoder_hidden_states=text).sample
            with capture_attention(unet, None) as store:
                assert all(isinstance(p, AttnProcessor) for p in unet.attn_processors.values())
                captured = unet(x, 10, encoder_hidden_states=text).sample
    finally:
        unet.set_attn_processor(before)
    assert store.resolutions and torch.equal(captured, reference)


def test_capture_without_explicit_probabilities_fails(unet, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Should diffusers' ``AttnProcessor`` stop computing the probabilities with ``get_attention_scores`` (here:
    it runs ``AttnProcessor2_0``'s fused attention instead), capturing raises instead of recording nothing."""
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    monkeypatch.setattr(AttnProcessor, "__call__", AttnProcessor2_0.__call__)
    x, text = _inputs()
    before = dict(unet.attn_processors)
    with torch.no_grad(), pytest.raises(RuntimeError, match="get_attention_scores"), capture_attention(unet, (16, 16)):
        unet(x, 10, encoder_hidden_states=text)
    assert all(unet.attn_processors[k] is before[k] for k in before)
