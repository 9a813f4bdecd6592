# The course's commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb))
FIRST_NOTEBOOK := notebooks/01_sigmoid_vs_relu.ipynb
# JupyterLab refuses to start as root (as in many containers) unless told to.
LAB_FLAGS := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root)

# Silence TensorFlow's C++ start-up logs in every kernel these commands start
# (utils sets the same variables when it is imported).
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
# Kernels must use Jupyter's inline backend, or figures vanish from stored outputs.
unexport MPLBACKEND

.PHONY: help lab test notebooks venv

help:
	@echo "make lab        open JupyterLab on the course (creates .venv on first use)"
	@echo "make test       unit tests + strict nbval over every notebook"
	@echo "make notebooks  re-run every notebook top to bottom and store its outputs"
	@echo "make venv       only create .venv from requirements.txt"

venv: $(READY)

$(READY): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 10) <= v <= (3, 13) else "TensorFlow 2.21 needs Python 3.10 to 3.13; $(PYTHON) is %d.%d. Choose another, e.g. make PYTHON=python3.12 ..." % v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	@touch $(READY)

lab: $(READY)
	$(BIN)/jupyter lab $(LAB_FLAGS) --ServerApp.root_dir=. \
	  --LabApp.default_url=/lab/tree/$(FIRST_NOTEBOOK)

test: $(READY)
	$(BIN)/python -m pytest -n auto --dist loadscope

# Outputs are committed: after changing a notebook, store one fresh top-to-bottom run.
notebooks: $(READY)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.kernel_name=python3 --ExecutePreprocessor.timeout=600 \
	  --ExecutePreprocessor.record_timing=False $(or $(NB),$(NOTEBOOKS))
