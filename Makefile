# make run   - install into .venv and show carp-pkg on the bundled example (no FreeBSD needed)
# make test  - install into .venv and run the whole test suite (lab tests need root + ip netns + ucarp)
# make lab   - live two-host failovers in network namespaces (root): ucarp (CARP), then keepalived (VRRPv3)
# make bench - the benchmark table; make reliability - the reliability figures
# make docs  - regenerate the man page and the shell completions from the parser (tools/gen_docs.py)
# make screenshots - regenerate docs/status-serve.png and docs/status-pfsense.png (chromium, php-cli)

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
EXAMPLE = examples/config.xml
DEMO_ROOT = build/demo-root

.PHONY: run test lab bench reliability clean docs screenshots

$(BIN)/carp-pkg: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: $(BIN)/carp-pkg
	$(BIN)/carp-pkg --config examples/linux-ucarp.xml validate --backend ucarp
	$(BIN)/carp-pkg --config $(EXAMPLE) validate --backend freebsd
	$(BIN)/carp-pkg --config $(EXAMPLE) render --backend freebsd --format script
	$(BIN)/carp-pkg --root $(DEMO_ROOT) --config $(EXAMPLE) sync --backend freebsd --dry-run --against examples/ifconfig-freebsd14.txt

test: $(BIN)/carp-pkg
	$(BIN)/python -m pytest -q -rs

lab: $(BIN)/carp-pkg
	$(BIN)/carp-pkg lab demo
	$(BIN)/carp-pkg lab demo --backend keepalived

bench: $(BIN)/carp-pkg
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/startup.py

reliability: $(BIN)/carp-pkg
	$(BIN)/python -m pytest -q tests/reliability tests/test_hooks.py tests/test_pcap.py --reliability-report

clean:
	rm -rf $(VENV) build *.egg-info

docs: $(BIN)/carp-pkg
	$(BIN)/python tools/gen_docs.py

screenshots: $(BIN)/carp-pkg
	$(BIN)/python docs/screenshots.py
