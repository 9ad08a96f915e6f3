# Partnership Registry — the two commands a newcomer needs:
#   make run    the whole product in one process on SQLite (embedded mode), http://127.0.0.1:5000
#   make test   lint, start real PostgreSQL + Kafka (scripts/services.sh), run every test
# Both work from a fresh clone: they create .venv and install the project first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test test-deps bench-deps install lint unit services-up services-down services-status bench clean \
        babel-extract babel-update babel-compile babel-init

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the four packages and the console scripts

run: $(STAMP) ## run registry + notifier + reporting in one process on SQLite under ./var
	$(BIN)/partnership-registry

lint: $(STAMP) ## ruff, mypy (strictness in pyproject.toml [tool.mypy]), bandit (no medium/high finding)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/bandit -r services shared -ll -q

test: lint services-up test-deps ## everything: unit (SQLite), integration and end-to-end (PostgreSQL + Kafka)
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP) ## only the tests that need no server
	$(BIN)/pytest -m "not postgres and not kafka and not e2e" $(PYTEST_ARGS)

test-deps: bench-deps ## Debian's Chromium and a Chinese font (page tests, screenshots) and wrk (benchmark smoke), installed when missing
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@fc-list :lang=zh 2>/dev/null | grep -q . || { echo "installing a Chinese font for Chromium"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq fonts-wqy-zenhei >/dev/null; }

bench-deps: ## Debian's wrk (the load generator) and postfix's smtp-sink (the fast SMTP sink of bench_reminders), installed when missing
	@command -v wrk >/dev/null 2>&1 || { echo "installing Debian's wrk"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk >/dev/null; }
	@{ command -v smtp-sink || test -x /usr/sbin/smtp-sink; } >/dev/null 2>&1 || { \
	  echo "installing Debian's postfix for smtp-sink (no mail server is configured or started)"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "postfix postfix/main_mailer_type select No configuration" | $$SUDO debconf-set-selections; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postfix >/dev/null; }

# -- translations (shared/i18n.py; NOTES-web.md "How to add a translation") -----------------
# One catalogue per folder: shared/ (layout, labels, errors) and each service; the apps read
# the .po files directly, so babel-compile is only a check (it writes git-ignored .mo files).
CATALOGUES := shared services/registry services/notifier services/reporting
LOCALES    := zh ar fr ru es
BABEL_KEYWORDS := -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k N_

babel-extract: $(STAMP) ## collect the translatable strings into <catalogue>/translations/messages.pot
	@for d in $(CATALOGUES); do \
	  $(BIN)/pybabel extract -F babel.cfg $(BABEL_KEYWORDS) --no-location --sort-output \
	    --project="Partnership Registry" --copyright-holder="Partnership Registry contributors" \
	    -o $$d/translations/messages.pot $$d 2>&1 | grep -v "^extracting messages from" || true; \
	  test -s $$d/translations/messages.pot || exit 1; done

babel-update: babel-extract ## merge new strings into every language's messages.po (new languages initialised)
	@for d in $(CATALOGUES); do for l in $(LOCALES); do \
	  if [ -f $$d/translations/$$l/LC_MESSAGES/messages.po ]; then \
	    $(BIN)/pybabel update -N --ignore-obsolete -i $$d/translations/messages.pot \
	      -d $$d/translations -l $$l || exit 1; \
	  else $(BIN)/pybabel init -i $$d/translations/messages.pot -d $$d/translations -l $$l || exit 1; fi; \
	done; done
	@# no generation timestamps in the committed catalogues: they only cause merge conflicts
	@sed -i '/^"POT-Creation-Date: /d;/^"PO-Revision-Date: /d' \
	  $(foreach d,$(CATALOGUES),$(foreach l,$(LOCALES),$(d)/translations/$(l)/LC_MESSAGES/messages.po))

babel-compile: $(STAMP) ## check every catalogue compiles (writes git-ignored .mo files, with statistics)
	@for d in $(CATALOGUES); do $(BIN)/pybabel compile --statistics -d $$d/translations || exit 1; done

services-up: $(STAMP) ## start PostgreSQL and Kafka on 127.0.0.1 (idempotent)
	bash scripts/services.sh up

services-down: ## stop them
	bash scripts/services.sh down

services-status:
	bash scripts/services.sh status

BENCH_ARGS ?=

bench: services-up bench-deps ## every bench/bench_*.py beside the bare reference -> bench/results/latest.{json,md} (< 30 min on 2 cores)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean: ## remove the embedded mode's data (var/) — stops the services first
	-bash scripts/services.sh down
	rm -rf var
