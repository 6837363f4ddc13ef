# refedit: `make demo` sets up and runs one real edit; `make test` sets up and runs the offline tests.
PYTHON ?= python3
VENV ?= .venv
TEST_VENV ?= .venv-test
# The tests pin the CPU build of torch (it lies on the CI machine's disk); users get whatever torch fits.
TEST_TORCH ?= torch==2.13.0
DEMO_IMAGE ?= examples/cat.jpg
DEMO_INSTRUCTION ?= replace the cat with a tiger

.PHONY: demo test bench clean browser

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e .
	touch $@

$(TEST_VENV)/.installed: setup.cfg pyproject.toml examples/plugin-blur/pyproject.toml
	$(PYTHON) -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install -q --upgrade pip
	$(TEST_VENV)/bin/pip install -q "$(TEST_TORCH)"
	$(TEST_VENV)/bin/pip install -q -e ".[test]"
	$(TEST_VENV)/bin/pip install -q --no-deps -e examples/plugin-blur
	# the lpips package and torchvision's model code, the references of LPIPS (tests/test_eval_metrics.py); kept off
	# the path: torchvision's PyPI wheels are CUDA builds whose C extension cannot load beside the CPU torch
	$(TEST_VENV)/bin/pip install -q --no-deps --target $(TEST_VENV)/refs lpips==0.1.4 torchvision==0.28.0
	touch $@

demo: $(VENV)/.installed
	mkdir -p out
	$(VENV)/bin/refedit edit $(DEMO_IMAGE) "$(DEMO_INSTRUCTION)" -o out/demo.png --save-mask out/demo_mask.png

test: $(TEST_VENV)/.installed browser
	$(TEST_VENV)/bin/python -m pytest -q

# the browser tests/test_serve_browser.py drives: Debian's chromium, installed when running as root on Debian and
# missing (elsewhere install it yourself: those tests skip without it, and fail under CI=true)
browser:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; fi

bench: $(TEST_VENV)/.installed
	$(TEST_VENV)/bin/python benchmarks/startup.py

clean:
	rm -rf $(VENV) $(TEST_VENV) out .pytest_cache
