"""DDIM inversion followed by sampling (same caption, guidance 1) on the tiny SD: how close it comes back
to the start latent, with the random UNet and after briefly training that UNet to denoise.

A random UNet is not smooth in x, and DDIM inversion's approximation (ε evaluated one step ahead)
depends on that smoothness; a UNet trained as a denoiser, even briefly on a handful of latents, behaves
like the real thing. Run: python benchmarks/reconstruction.py [--train-steps 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-steps", type=int, default=600)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()
    from refedit.config import Settings
    from refedit.pipeline.edit.diffedit import DiffEditEditor, DiffEditOptions
    from refedit.pipeline.models import ModelStore
    from refedit.testing.tiny_models import build_tiny_sd

    torch.manual_seed(0)
    path = build_tiny_sd(Path(tempfile.mkdtemp()) / "sd")
    store = ModelStore(Settings(models={"sd": str(path)}, device="cpu"))
    caption = "a photo of a cup"
    photos = ["coffee.jpg", "cat.jpg", "coins.jpg", "rocket.jpg"]
    images = [Image.open(ROOT / "examples" / p).convert("RGB").resize((args.size, args.size)) for p in photos]
    # Like SD's 0.18215, the latent scaling factor should give the latents unit variance; the tiny random
    # VAE's default leaves them ~20x too small, drowning the signal in the noise at every timestep.
    vae = store.get("sd", "vae")
    raw = torch.cat([DiffEditEditor(store, DiffEditOptions()).sd.encode_image(img) for img in images])
    vae.register_to_config(scaling_factor=float(vae.config.scaling_factor / raw.std()))

    def errors(steps_list: list[int]) -> dict[int, float]:
        out = {}
        for steps in steps_list:
            ed = DiffEditEditor(store, DiffEditOptions(steps=steps, encode_ratio=0.5, inversion_cache=0))
            rel = []
            for img in images:
                z0 = ed.sd.encode_image(img)
                inv = ed.invert(z0, caption)
                back = ed.denoise(inv, caption, torch.ones(1, 1, *z0.shape[-2:]), guidance=1.0)
                rel.append(((back - z0).pow(2).mean().sqrt() / z0.pow(2).mean().sqrt()).item())
            out[steps] = sum(rel) / len(rel)
        return out

    before = errors([10, 50])
    # train the UNet as an epsilon-predictor on the latents of the example photos
    ed = DiffEditEditor(store, DiffEditOptions())
    unet, sd = ed.sd.unet, ed.sd
    latents = torch.cat([sd.encode_image(img) for img in images])
    text = sd.encode_text([caption]).repeat(len(images), 1, 1)
    from diffusers import DDIMScheduler

    alphas = DDIMScheduler.from_config(sd.scheduler_config).alphas_cumprod
    unet.train().requires_grad_(True)
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(args.train_steps):
        t = torch.randint(0, 1000, (len(images),))
        noise = torch.randn_like(latents)
        a = alphas[t].view(-1, 1, 1, 1)
        x = a.sqrt() * latents + (1 - a).sqrt() * noise
        loss = torch.nn.functional.mse_loss(unet(x, t, encoder_hidden_states=text).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    unet.eval().requires_grad_(False)
    train_s = time.perf_counter() - start
    after = errors([10, 50])
    print(f"tiny SD, {len(images)} example photos at {args.size}x{args.size}, r=0.5, guidance 1, same caption, "
          f"latent scaling factor {vae.config.scaling_factor:.3f} (unit-variance latents)")  # fmt: skip
    print("relative RMS error |z_rec - z_0| / |z_0| (mean over the photos)")
    for steps in (10, 50):
        print(f"  T={steps:<3}  random UNet {100 * before[steps]:7.1f} %   trained UNet {100 * after[steps]:7.2f} %")
    print(f"  (UNet trained {args.train_steps} steps in {train_s:.0f} s, final loss {loss.item():.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
