"""The package's layout: `utils` is what notebooks import, `tools` the tooling no notebook imports."""
import ast
import importlib
import inspect
import pathlib
import re

import pytest

import utils

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", utils.__all__)
def test_every_name_utils_offers_resolves(name):
    assert getattr(utils, name) is not None


# Public names of utils modules that notebooks do not reach through `utils.` (building blocks of
# the helpers, the claims' bookkeeping, the data file's format); everything else must be offered.
NOT_OFFERED = {"Claim", "checked_claims", "clear_claims", "read_sample", "sample_checksum", "stratified_split",
               "control", "seeded_initializer", "weighted_layers", "per_model", "kernels",
               "Animation", "Explorer", "snapshot",  # what animate_paths and explore return, and how
               "in_pack_environment", "on_colab", "strict_versions"}  # setup()'s own decisions


def test_every_public_helper_of_a_utils_module_is_offered_by_utils():
    offered = set(utils.__all__)
    for path in sorted((ROOT / "utils").glob("*.py")):
        if path.stem in ("__init__", "course", "labkit"):   # used as modules: utils.course, utils.labkit
            continue
        module = importlib.import_module(f"utils.{path.stem}")
        public = {name for name, value in vars(module).items() if not name.startswith("_")
                  and (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__}
        missing = public - offered - NOT_OFFERED
        assert not missing, f"add to utils/__init__.py's name map (or to NOT_OFFERED here): {sorted(missing)}"


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_imports_flow_one_way_from_tools_to_utils():
    for path in (ROOT / "utils").glob("*.py"):
        assert not any(m == "tools" or m.startswith("tools.") for m in imported_modules(path)), \
            f"{path.name} imports from tools/: utils must not depend on the tooling"


def test_no_notebook_imports_the_tooling():
    from utils import course
    for path in course.pack_notebooks() + [ROOT / step.path for step in course.labs()]:
        text = path.read_text(encoding="utf-8")
        assert "import tools" not in text and "from tools" not in text, path.name


def test_the_readme_describes_every_public_helper():
    """The README's `utils` table is the package's map: a helper added without a row fails here."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("| `utils` | for |")
    table = readme[start:readme.index("\n\n", start)]
    described = set(re.findall(r"`([A-Za-z_][A-Za-z_0-9]*)", table))
    missing = sorted(set(utils.__all__) - described)
    assert not missing, f"add to the README's utils table: {missing}"
