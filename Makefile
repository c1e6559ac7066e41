# Two commands: `make demo` (set up + run the demo) and `make test` (set up + run the tests).
# Only python3 (3.11) is assumed; uv is bootstrapped into .tools/ with pip when it is not on PATH.
UV_VERSION := 0.13.9
UV := $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
export UV_PYTHON_DOWNLOADS := never
# installed packages get their bytecode compiled once, at install: every process (newsmon, its
# extraction and spaCy workers, Airflow tasks) then starts without compiling what it imports
export UV_COMPILE_BYTECODE := 1

.PHONY: demo test run airflow lock clean

$(CURDIR)/.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

demo: $(UV)
	$(UV) run --frozen --no-dev newsmon demo

test: $(UV)
	$(UV) run --frozen pytest

run: $(UV)
	$(UV) run --frozen --no-dev newsmon run

airflow: $(UV)
	$(UV) run --frozen newsmon airflow

lock: $(UV)
	$(UV) lock

clean:
	rm -rf .venv .tools data/demo
