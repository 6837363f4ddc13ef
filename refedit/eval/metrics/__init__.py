"""The seed papers' metrics, each computed as its paper (or the official code it cites) computes it.

``masks`` (mIoU, oIoU, Pr@X: Ref-Diff), ``pixels`` (PSNR, MSE, SSIM, L1/L2, masked variants: PIE-Bench,
ReferDiffusion, iEdit, MagicBrush), ``embedding`` (CLIP score, CLIP directional similarity, cosine similarities:
InstructEdit, PIE-Bench, ReferDiffusion, MagicBrush/Emu Edit), ``lpips`` (the LPIPS network). The pure ones
take arrays; the model-backed ones take features or a loaded network.
"""
