# The README's two commands: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv lava-venv netx-venv browser versions constraints clean

# Every install is pinned by constraints/<env>.txt: the exact versions the suite was last green
# with (see `make constraints`). PINNED=no installs unpinned (only `make constraints` does).
PINNED ?= yes
pin = $(if $(filter yes,$(PINNED)),-c constraints/$(1).txt)

# The Lava backend's own environment (DESIGN §6): lava-nc 0.10 imports on Python 3.10 only.
LAVA_VENV := .venv-lava
LAVA_PY := $(LAVA_VENV)/bin/python
LAVA_STAMP := $(LAVA_VENV)/.installed
# python3.10 on PATH (a pyenv shim counts only if it runs), else pyenv's 3.10.x.
PYTHON310 ?= $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile constraints/main.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(call pin,main) --upgrade pip
	# torch is pinned to the local CPU wheel; anything unpinned would pull CUDA builds.
	$(PY) -m pip install -q $(call pin,main) torch==2.13.0
	$(PY) -m pip install -q $(call pin,main) nir nirtorch onnx onnxruntime h5py scikit-learn pytest hypothesis tqdm matplotlib sanafe==2.2.9 ruff==0.17.6 tonic aedat ray jinja2 jsonschema
	# norse declares torchvision (no CPU build here), so it and the other torch-based producers of
	# NIR files (the conformance tests in tests/interop) go in without their dependencies; pbr is
	# the one that sinabs needs at import.
	$(PY) -m pip install -q $(call pin,main) --no-deps norse snntorch sinabs rockpool pbr
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

lava-venv: $(LAVA_STAMP)

$(LAVA_STAMP): pyproject.toml Makefile constraints/lava.txt
	@test -n "$(PYTHON310)" || { echo "make: the Lava backend needs Python 3.10 (lava-nc 0.10 supports no other): put python3.10 on PATH, install it with pyenv (pyenv install 3.10), or run make PYTHON310=/path/to/python3.10" >&2; exit 1; }
	$(PYTHON310) -m venv $(LAVA_VENV)
	$(LAVA_PY) -m pip install -q $(call pin,lava) --upgrade pip
	# no torch here: deploy/lava* imports none (DESIGN §1).
	$(LAVA_PY) -m pip install -q $(call pin,lava) lava-nc==0.10.0 "numpy<2" nir h5py
	$(LAVA_PY) -m pip install -q --no-deps -e .
	touch $(LAVA_STAMP)

# lava-dl's netx loader, for tests/netx (DESIGN §6): Python 3.10, torch 2.3.1 from the registry
# (with its CUDA wheels: ~5.6 GB in all), lava-nc 0.10; lava-dl and torchvision without their
# dependencies. About 100 s on a 2-core machine with a package cache.
NETX_VENV := .venv-netx
NETX_PY := $(NETX_VENV)/bin/python
NETX_STAMP := $(NETX_VENV)/.installed

netx-venv: $(NETX_STAMP)

$(NETX_STAMP): pyproject.toml Makefile constraints/netx.txt
	@test -n "$(PYTHON310)" || { echo "make: lava-dl needs Python 3.10: put python3.10 on PATH, install it with pyenv (pyenv install 3.10), or run make PYTHON310=/path/to/python3.10" >&2; exit 1; }
	test -x $(NETX_PY) || $(PYTHON310) -m venv $(NETX_VENV)
	$(NETX_PY) -m pip install -q $(call pin,netx) --upgrade pip
	$(NETX_PY) -m pip install -q $(call pin,netx) torch==2.3.1 "numpy<2"
	$(NETX_PY) -m pip install -q $(call pin,netx) lava-nc==0.10.0 h5py matplotlib ninja opencv-python-headless "pillow<11" nir
	$(NETX_PY) -m pip install -q $(call pin,netx) --no-deps lava-dl==0.6.0 torchvision==0.18.1
	$(NETX_PY) -m pip install -q --no-deps -e .
	touch $(NETX_STAMP)

demo: $(STAMP)
	$(PY) -m dalif.demo --out runs/demo

test: $(STAMP) $(LAVA_STAMP) $(NETX_STAMP) browser
	@$(MAKE) --no-print-directory versions
	$(PY) -m pytest -q

# A headless browser for the report's rendering check (tests/report/test_browser.py): Debian's
# chromium where this machine can install it (root with apt); elsewhere that one check is skipped
# and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "make: no chromium here: the report's browser check will be skipped"

# What is installed in each environment, one line each (printed before every test run).
versions:
	@for py in $(PY) $(LAVA_PY) $(NETX_PY); do \
		test -x $$py || continue; \
		echo "$$py: Python $$($$py -c 'import platform; print(platform.python_version())')" \
			"$$($$py -m pip freeze --all --exclude-editable 2>/dev/null | tr '\n' ' ')"; \
	done
	@command -v chromium >/dev/null 2>&1 && echo "browser: $$(chromium --version 2>/dev/null)" || echo "browser: none"

# Refresh the pins: rebuild every environment unpinned, run the whole suite, and only if it is
# green write constraints/*.txt from what was installed (torch's local "+cpu" label dropped, so
# the pin reads as the README's `pip install torch==2.13.0`). Commit the three files.
constraints:
	rm -rf $(VENV) $(LAVA_VENV) $(NETX_VENV)
	$(MAKE) test PINNED=no
	for env in main:$(PY) lava:$(LAVA_PY) netx:$(NETX_PY); do \
		{ echo "# Pins of $${env%%:*}'s environment, written by \`make constraints\` after a green \`make test\`"; \
		  echo "# on $$(date -u +%Y-%m-%d) with Python $$($${env#*:} -c 'import platform; print(platform.python_version())')."; \
		  $${env#*:} -m pip freeze --all --exclude-editable | sed 's/+cpu$$//'; } > constraints/$${env%%:*}.txt.tmp \
		&& mv constraints/$${env%%:*}.txt.tmp constraints/$${env%%:*}.txt; \
	done

# Lint (pyproject's [tool.ruff.lint]); not part of `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) $(LAVA_VENV) $(NETX_VENV) runs
