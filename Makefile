# The course's commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# The exact versions: Python 3.10's newest Keras, NumPy and Matplotlib are older than 3.11's.
CONSTRAINTS := $(shell $(PYTHON) -c "import sys; print('constraints-py3.10.txt' if sys.version_info[:2] == (3, 10) else 'constraints.txt')" 2>/dev/null || echo constraints.txt)
FIRST_NOTEBOOK := notebooks/00_start_here.ipynb
# Every notebook the pack runs, from the course's registry (utils/course.py).
NOTEBOOKS = $(shell $(PYTHON) -m utils.course --all)
# pytest-xdist workers: the CPUs this process may use, at most 4 (each imports TensorFlow).
WORKERS ?= $(shell $(PYTHON) -c "import os; n = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count(); print(max(1, min(4, n or 1)))" 2>/dev/null || echo 2)
# JupyterLab refuses to start as root (as in many containers) unless told to.
LAB_FLAGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

# The notebooks' budget: default (what nbval checks, the committed outputs) or full (more seeds
# and repeats, for study: make run SCALE=full, make lab SCALE=full). Tests always use default.
SCALE ?= default
export COURSE_SCALE := $(SCALE)

# Silence TensorFlow's C++ start-up logs in every kernel these commands start
# (utils sets the same variables when it is imported).
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS ?= 0
# Kernels must use Jupyter's inline backend, or figures vanish from stored outputs.
unexport MPLBACKEND

.PHONY: help lab test test-strict test-portability exact-cells check lint run benchmark notebooks publish labs grade test-grader venv constraints clean test-ui test-integration

help:
	@echo "make lab        open JupyterLab on the course map (creates .venv on first use)"
	@echo "make test       lint, unit tests, every notebook run and every claim held to its baseline"
	@echo "make check      the fast loop (under 30 s): lint and the tests that start no kernel or training"
	@echo "make test-strict       make test, comparing every stored output digit for digit (reference machine)"
	@echo "make test-portability  the suite under perturbed arithmetic (oneDNN, 2 and 8 threads, AVX2): build/portability/"
	@echo "make exact-cells       after test-portability: compare exactly the cells no perturbation changed"
	@echo "make test-ui           JupyterLab in headless Chromium: course map, explorers, a lab (screenshots in build/ui/)"
	@echo "make test-integration  test-ui, nbgrader's own autograder on a lab, and a Jupyter with another TensorFlow"
	@echo "make run        run every notebook and lab solution headless in parallel; report in build/report.html"
	@echo "                (SCALE=full: more seeds and repeats, for study; also make lab SCALE=full)"
	@echo "make benchmark  time every notebook alone (or NB=...), and the fixed cost of kernel + TensorFlow"
	@echo "make notebooks  re-run every notebook and lab solution (or NB=...) and store its outputs and the baseline"
	@echo "make publish NB=notebooks/NN_name.ipynb   after adding a notebook: benchmark, store, update 00 and the README"
	@echo "make labs       regenerate the labs' student versions from their solutions"
	@echo "make grade LAB=01 SUBMISSIONS=folder [OUT=folder]   grade a folder of submitted labs, each in a sandbox"
	@echo "make test-grader       the grader's whole table of hostile submissions"
	@echo "make venv       only create .venv;  make clean  remove it"

venv: $(READY)

# A fresh environment whenever the requirements change: never an upgrade in place.
# The project is put on the venv's path by a .pth file (no build step, works offline).
$(READY): requirements.txt $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else "TensorFlow 2.21 needs Python 3.10 to 3.13; $(PYTHON) is %d.%d. Choose another: make clean lab PYTHON=python3.12" % v)'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -r requirements.txt -c $(CONSTRAINTS)
	$(BIN)/python -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'course.pth').write_text('$(CURDIR)\n')"
	@# nbdime's drivers for .gitattributes, in this clone's git config, with the venv's absolute path
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git config diff.jupyternotebook.command "$(CURDIR)/$(BIN)/git-nbdiffdriver diff" && \
	  git config merge.jupyternotebook.driver "$(CURDIR)/$(BIN)/git-nbmergedriver merge %O %A %B %L %P" && \
	  git config merge.jupyternotebook.name "nbdime notebook merge"; fi
	@touch $(READY)

# Kernels talk to JupyterLab over Unix sockets rather than unencrypted TCP on loopback (no warning at each
# kernel start), where that is safe: not on Windows, and with a runtime folder short enough for socket paths.
LAB_TRANSPORT = $(shell $(BIN)/python -c "import sys; from jupyter_core.paths import jupyter_runtime_dir as d; print('' if sys.platform == 'win32' or len(d()) > 60 else '--KernelManager.transport=ipc')" 2>/dev/null)

lab: $(READY)
	$(BIN)/jupyter lab $(LAB_FLAGS) $(LAB_TRANSPORT) $(LAB_ARGS) --ServerApp.root_dir=. \
	  --LabApp.default_url=/lab/tree/$(FIRST_NOTEBOOK)

# --dist loadscope keeps each notebook's cells on one worker, in order. --nbval-lax: only cells tagged
# nbval-check-output are compared digit for digit; every claim asserts and is held to the baseline.
# The lecture notebooks, longest first; the lab solutions run in tests/test_labs.py (each graded: full
# marks) and tests/test_determinism.py (lab 04 twice, against its stored outputs).
TEST_NOTEBOOKS = $(shell $(PYTHON) -m utils.course --notebooks --by-cost)
PYTEST_ARGS = -n $(WORKERS) --dist loadscope --nbval-lax $(TEST_NOTEBOOKS) tests

test: lint
	COURSE_SCALE=default $(BIN)/python -m pytest $(PYTEST_ARGS)

# Code, notebooks and the CI workflow: ruff, GitHub's workflow schema, zizmor's audit (offline).
lint: $(READY)
	$(BIN)/ruff check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows/

check: lint
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not kernel and not slow" tests

# Where students and teachers already work, in environments of their own (build/venvs/, never .venv): JupyterLab
# in headless Chromium (Debian's chromium; Playwright drives it), nbgrader's autograder on a lab, and a Jupyter
# with another TensorFlow. Not in make test; .ci/run runs it after make test.
OTHER_TF_VENV := build/venvs/tf-2.20
NBGRADER_VENV := build/venvs/nbgrader

test-ui: $(READY)
	$(BIN)/python -m pytest -m ui tests/test_ui.py

test-integration: $(READY) $(NBGRADER_VENV)/.ready $(OTHER_TF_VENV)/.ready
	NBGRADER_PYTHON=$(CURDIR)/$(NBGRADER_VENV)/bin/python OTHER_TF_PYTHON=$(CURDIR)/$(OTHER_TF_VENV)/bin/python \
	  $(BIN)/python -m pytest -m integration tests

# nbgrader over the pinned environment: a venv that sees .venv's packages through a .pth and adds only nbgrader's.
$(NBGRADER_VENV)/.ready: requirements-nbgrader.txt $(READY)
	rm -rf $(NBGRADER_VENV)
	$(BIN)/python -m venv $(NBGRADER_VENV)
	$(BIN)/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > "$$($(NBGRADER_VENV)/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/pack-venv.pth"
	$(NBGRADER_VENV)/bin/python -m pip install -r requirements-nbgrader.txt -c $(CONSTRAINTS)
	@touch $@

# Another TensorFlow, with the pack's other versions (constraints without TensorFlow), and the pack on its path.
$(OTHER_TF_VENV)/.ready: requirements-other-tf.txt $(CONSTRAINTS)
	rm -rf $(OTHER_TF_VENV)
	$(PYTHON) -m venv $(OTHER_TF_VENV)
	grep -v -e '^tensorflow' -e '^tensorboard' $(CONSTRAINTS) > $(OTHER_TF_VENV)/constraints.txt
	$(OTHER_TF_VENV)/bin/python -m pip install -r requirements-other-tf.txt -c $(OTHER_TF_VENV)/constraints.txt
	$(OTHER_TF_VENV)/bin/python -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()['purelib'], 'course.pth').write_text('$(CURDIR)\n')"
	@touch $@

# Every stored output reproduced digit for digit: only on the machine kind that made them.
test-strict: $(READY)
	COURSE_SCALE=default $(BIN)/python -m pytest $(filter-out --nbval-lax,$(PYTEST_ARGS))

# Every notebook and lab solution under each arithmetic perturbation (oneDNN, 2 and 8 threads, NumPy on
# AVX2), claims held to the baseline: build/portability/. (The unit tests do not depend on the arithmetic.)
test-portability: $(READY)
	COURSE_SCALE=default $(BIN)/python -m tools.portability run -- -n $(WORKERS) --dist loadscope --nbval-lax $(NOTEBOOKS)

# After test-portability: compare exactly the cells that no perturbation changed.
exact-cells: $(READY)
	$(BIN)/python -m tools.portability tag

# Outputs are committed: after changing a notebook, store one fresh top-to-bottom run.
run: $(READY)
	$(BIN)/python -m tools.run --workers $(WORKERS) $(NB)

# The run times go to benchmarks/, notebook 00's map and the README's tables.
benchmark: $(READY)
	COURSE_SCALE=default $(BIN)/python benchmarks/run.py $(NB)
	COURSE_SCALE=default $(BIN)/python -m tools.run --store $(FIRST_NOTEBOOK)
	$(BIN)/python -m tools.docs

notebooks: $(READY)
	@test "$(SCALE)" = default || { echo "committed outputs are the default scale's: run make notebooks without SCALE"; exit 2; }
	COURSE_SCALE=default $(BIN)/python -m tools.run --store --workers $(WORKERS) $(or $(NB),$(NOTEBOOKS))

# After writing a notebook and adding its entry to utils/course.py: its run time, its stored outputs,
# notebook 00's map, and the README's tables, in one command.
publish: $(READY)
	@test -n "$(NB)" || { echo "usage: make publish NB=notebooks/NN_name.ipynb"; exit 2; }
	COURSE_SCALE=default $(BIN)/python -m tools.run --store --workers $(WORKERS) $(NB)
	$(MAKE) benchmark NB="$(NB)"

labs: $(READY)
	$(BIN)/python -m tools.labs

# Every submission runs in a bubblewrap sandbox (tools/grading/); NO_SANDBOX=1 grades without one (unsafe).
grade: $(READY)
	@test -n "$(LAB)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade LAB=01 SUBMISSIONS=folder [OUT=folder] [SHARD=K/N] [NO_SANDBOX=1]"; exit 2; }
	$(BIN)/python -m tools.grading grade $(LAB) "$(SUBMISSIONS)" $(if $(OUT),--out "$(OUT)") $(if $(SHARD),--shard $(SHARD)) $(if $(NO_SANDBOX),--no-sandbox) $(GRADE_ARGS)

# The grader's whole hostile table, and every lab's solution graded on a loaded machine
# (make test runs a representative part of the table).
test-grader: $(READY)
	COURSE_GRADER_FULL=1 $(BIN)/python -m pytest -n $(WORKERS) --dist loadscope tests/test_grading_sandbox.py

constraints: $(READY)
	@{ sed -n '1,3p' $(CONSTRAINTS); $(BIN)/python -m pip freeze --exclude-editable; } > constraints.new
	mv constraints.new $(CONSTRAINTS)
	@touch $(READY)

clean:
	rm -rf $(VENV)
