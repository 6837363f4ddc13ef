"""The pure core under the stages: mask operations, box and crop geometry, the DDIM/noise math, seeded noise,
image-quality figures and shared limits. Every stage package may import it; it imports no stage package
(``refedit.pipeline.parse``, ``.segment``, ``.edit``), no model wrapper and not the command line (see
``tests/test_layout.py``)."""
