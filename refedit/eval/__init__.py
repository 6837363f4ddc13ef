"""``refedit eval``: the seed papers' metrics over public benchmark formats, for refedit's stages or any tool's
outputs.

- :mod:`~refedit.eval.metrics`: the figures, each as its paper (or the official code it cites) computes it —
  ``masks`` (mIoU, oIoU, Pr@X: Ref-Diff), ``pixels`` (PSNR/MSE/SSIM as PIE-Bench, L2_bg: ReferDiffusion, SSIM-M/M̄:
  iEdit, L1: MagicBrush), ``embedding`` (CLIP score, CLIP directional similarity: InstructEdit; CLIP-I/T, DINO:
  MagicBrush), ``lpips`` (the LPIPS v0.1 network);
- :mod:`~refedit.eval.formats`: refedit's JSONL manifest, RefCOCO/+/g (``refer`` toolkit), PIE-Bench, MagicBrush,
  and the mask encodings (``rle``); :mod:`~refedit.eval.samples`: the common sample and its up-front checks;
- :mod:`~refedit.eval.models`: the metric models through the ModelStore roles ``clipscore``, ``dino``, ``lpips``;
- runners: :mod:`~refedit.eval.segment` (``eval segment``), :mod:`~refedit.eval.edit` (``eval edit`` and
  ``eval score``), :mod:`~refedit.eval.score` (the per-sample figures), :mod:`~refedit.eval.judge` (the optional
  VLM judge), :mod:`~refedit.eval.synth` (the offline synthetic benchmark);
- output: :mod:`~refedit.eval.results` (the resumable per-sample log, atomic files), :mod:`~refedit.eval.report`
  (summaries, Markdown), :mod:`~refedit.eval.plots` (matplotlib, lazily).

The command line is :mod:`refedit.cli.eval`; nothing here prints or exits.
"""
