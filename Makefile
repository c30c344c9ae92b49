# Two commands: `make run` starts the suite, `make test` runs every test. Both set themselves up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
TOOLS  := .tools
CLAUDE_VERSION ?= 2.1.330
CLAUDE := $(TOOLS)/.installed-claude-code-$(CLAUDE_VERSION)
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run web test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

$(CLAUDE):
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error \
		@anthropic-ai/claude-code@$(CLAUDE_VERSION)
	rm -f $(TOOLS)/.installed-claude-code-* && touch $@

# Browser tests drive Debian's Chromium with Playwright (never `playwright install`).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq chromium

run: $(STAMP)
	$(BIN)/mitmdump --set confdir=certs -s addons/main.py

web: $(STAMP)
	$(BIN)/mitmweb --set confdir=certs -s addons/main.py

test: $(STAMP) $(CLAUDE) $(CHROMIUM)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check addons rules datasette_plugins tests bench scripts

bench: $(STAMP)
	$(BIN)/python -m bench.overhead

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache
