"""The pack in a real browser, as JupyterLab's own UI tests drive it: headless Chromium (Debian's package,
driven by Playwright; Playwright's own browser download cannot work offline) against JupyterLab started as
`make lab` starts it, on a fresh copy of the pack that nothing has trusted. Notebooks 03, 04 and 06 are
re-run first with the current `utils`, as `make notebooks` would store them.

`make test-ui` runs it (and `make test-integration`); screenshots go to build/ui/. CHROMIUM names the
browser when it is not /usr/bin/chromium (`apt-get install -y chromium`).
"""
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.ui, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "ui"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser") or ""
# Chromium's flags that work offline in a container (Playwright adds --headless)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
RESTORED = ["notebooks/03_initialization.ipynb", "notebooks/04_dropout.ipynb", "notebooks/06_optimizers.ipynb"]
EXPLORERS = {"notebooks/03_initialization.ipynb": 1, "notebooks/04_dropout.ipynb": 1,
             "notebooks/06_optimizers.ipynb": 1}
# JupyterLab's settings for a test: every cell rendered (no windowing), no news prompt over the page
SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                               "checkForUpdates": False}}
ANSWER = "def sigmoid_derivative(z):\n    s = 1 / (1 + np.exp(-z))\n    return s * (1 - s)\n"
PROMPT_DONE = re.compile(r"\[\d+\]:")


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh copy of the pack's notebooks and labs, with 03, 04 and 06 re-run by the current utils."""
    root = tmp_path_factory.mktemp("clone")
    for folder in ("notebooks", "labs"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    run = tmp_path_factory.mktemp("restored")
    workers = str(max(1, min(3, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)))
    ran = subprocess.run([sys.executable, "-m", "tools.run", "--out", str(run), "--workers", workers, *RESTORED],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    for notebook in RESTORED:
        shutil.copyfile(run / "notebooks" / Path(notebook).name, root / notebook)
    return root


@pytest.fixture(scope="module")
def server(clone):
    """JupyterLab with `make lab`'s settings (IPC transport for kernels) and a home of its own."""
    home = Path(tempfile.mkdtemp(prefix="jl"))   # short: IPC socket paths must stay under ~100 characters
    for name, values in SETTINGS.items():
        (home / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "settings" / name).write_text(json.dumps(values), encoding="utf-8")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_RUNTIME_DIR": str(home / "rt"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={clone}", "--KernelManager.transport=ipc",
               *(["--allow-root"] if os.geteuid() == 0 else [])]
    log = open(home / "server.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=clone)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=10):
                break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()
            time.sleep(0.5)
    yield {"base": base, "token": token, "home": home}
    process.terminate()
    process.wait(timeout=30)
    log.close()
    shutil.rmtree(home, ignore_errors=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def browser(server):
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.fail("no Chromium: `apt-get install -y chromium` (or set CHROMIUM to its path)")
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium"), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


class Lab:
    """One JupyterLab page showing one notebook."""

    def __init__(self, browser, server, path):
        self.page = browser.new_page()
        self.page.goto(f"{server['base']}/lab/tree/{path}?token={server['token']}&reset")
        self.panel = self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        self.cells = self.panel.locator(".jp-Notebook .jp-Cell")
        self.cells.first.wait_for(state="attached", timeout=120_000)
        self.page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle")).first.wait_for(timeout=180_000)

    def code_cell(self, containing):
        return self.panel.locator(".jp-CodeCell", has=self.page.locator(".jp-InputArea", has_text=containing))

    def run(self, index, timeout=300):
        """Run one cell as a student does (select it, Shift+Enter); return its outputs once it has run."""
        cell = self.cells.nth(index)
        cell.locator(".jp-InputPrompt").click()
        self.page.keyboard.press("Shift+Enter")
        self.wait(lambda: PROMPT_DONE.fullmatch(cell.locator(".jp-InputPrompt").inner_text().strip()), timeout)
        return cell.locator(".jp-OutputArea-output")

    def run_all(self, timeout=900):
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        prompts = self.panel.locator(".jp-CodeCell .jp-InputPrompt")
        self.wait(lambda: all(PROMPT_DONE.fullmatch(text.strip()) for text in prompts.all_inner_texts()), timeout)

    def wait(self, condition, timeout):
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "JupyterLab did not finish in time"
            self.page.wait_for_timeout(300)

    def errors(self):
        """Error and stderr outputs (JupyterLab renders both as stderr), and widgets that failed to render."""
        return (self.panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
                .all_inner_texts() + self.panel.get_by_text("Error displaying widget").all_inner_texts())

    def shot(self, locator, name):
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(SHOTS / name))


def test_the_course_map_renders_and_its_names_open_their_notebooks(browser, server):
    from utils import course
    lab = Lab(browser, server, "notebooks/00_start_here.ipynb")
    links = lab.panel.locator(".jp-OutputArea-output table a")
    links.first.wait_for()
    assert links.all_inner_texts() == [step.path for step in course.steps()[1:]]
    lab.shot(lab.panel.locator(".jp-OutputArea-output table").first, "course_map.png")
    links.filter(has_text="03_initialization").click()
    active = lab.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    lab.wait(lambda: active.first.inner_text() == "03_initialization.ipynb", 60)
    lab.page.close()


@pytest.mark.parametrize("path", RESTORED)
def test_stored_interactive_outputs_render_in_an_untrusted_clone(browser, server, path):
    """Widget state and SVG do not render untrusted; the explorers' PNG fallback and the animated PNG do."""
    lab = Lab(browser, server, path)
    explorers = lab.code_cell("utils.explore(")
    assert explorers.count() == EXPLORERS[path]
    shown = [explorers.nth(i) for i in range(explorers.count())]
    if path.endswith("06_optimizers.ipynb"):
        shown.append(lab.code_cell("utils.animate_paths(").first)
    for i, cell in enumerate(shown):
        output = cell.locator(".jp-OutputArea-output")
        assert output.count() == 1 and output.get_attribute("data-mime-type") == "image/png"
        image = output.locator("img")
        assert image.evaluate("img => img.complete && img.naturalWidth > 300")
        assert output.inner_text().strip() == ""   # no "interactive(children=..." nor an object repr
        lab.shot(cell, f"untrusted_{Path(path).stem}_{i}.png")
    if path.endswith("06_optimizers.ipynb"):   # the animation plays: two moments differ
        image = shown[-1].locator("img")
        first = image.screenshot()
        lab.page.wait_for_timeout(1500)
        assert image.screenshot() != first
    assert lab.errors() == []
    lab.page.close()


def test_running_a_notebook_then_moving_an_explorer_slider_redraws_its_figure(browser, server):
    lab = Lab(browser, server, "notebooks/03_initialization.ipynb")
    lab.run_all()
    assert lab.errors() == []
    cell = lab.code_cell("utils.explore(").first
    assert cell.locator(".widget-hslider").count() == 2 and cell.locator(".widget-dropdown").count() == 1
    assert cell.locator(".widget-hslider .widget-label").all_inner_texts() == ["depth", "std_factor"]
    image = cell.locator(".widget-output img")
    assert image.count() == 1
    before = image.get_attribute("src")
    lab.shot(cell, "explorer_before.png")
    cell.locator(".widget-hslider", has_text="depth").locator(".widget-readout").click()
    lab.page.keyboard.press("Control+A")
    lab.page.keyboard.type("45")
    lab.page.keyboard.press("Enter")
    lab.wait(lambda: image.get_attribute("src") != before, 120)
    lab.page.wait_for_timeout(500)
    lab.shot(cell, "explorer_after.png")
    assert cell.locator(".widget-output img").count() == 1 and lab.errors() == []
    lab.page.close()


def _lab_cells(path, answer_id):
    """Indices of a lab's setup cell, the answer cell `answer_id` and the test cell after it."""
    import nbformat

    from tools import labs
    cells = nbformat.read(ROOT / path, as_version=4).cells
    setup = next(i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.startswith("import utils"))
    answer = next(i for i, c in enumerate(cells) if labs.grade_id(c) == answer_id)
    return setup, answer, answer + 1


def test_a_student_lab_runs_its_visible_test(browser, server):
    lab = Lab(browser, server, "labs/01_activations.ipynb")
    setup, answer, visible = _lab_cells("labs/01_activations.ipynb", "ex1-answer")
    assert lab.run(setup).all_inner_texts() == ["TensorFlow 2.21, Keras 3, seed 0, op determinism on.\n"]
    lab.run(answer)   # the untouched answer: defines a function that raises
    failed = lab.run(visible)
    assert failed.count() == 1 and failed.get_attribute("data-mime-type") == "application/vnd.jupyter.stderr"
    message = failed.inner_text().strip()
    assert message.startswith("✗ `sigmoid_derivative(z)` raised NotImplementedError") and "\n" not in message
    lab.shot(lab.cells.nth(visible), "lab_visible_test_failed.png")
    lab.cells.nth(answer).locator(".cm-content").click()
    lab.page.keyboard.press("Control+A")
    lab.page.keyboard.insert_text(ANSWER)
    lab.page.keyboard.press("Escape")
    assert lab.run(answer).count() == 0
    passed = lab.run(visible)
    assert passed.all_inner_texts() == ["✓ σ'(0) = 1/4 and σ'(±2) ≈ 0.105\n"]
    lab.shot(lab.cells.nth(visible), "lab_visible_test_passed.png")
    assert lab.errors() == []
    lab.cells.nth(visible).locator(".cm-content").click()   # a given cell: locked
    lab.page.keyboard.type("# edited")
    lab.page.keyboard.press("Escape")
    assert "# edited" not in lab.cells.nth(visible).locator(".cm-content").inner_text()
    lab.page.close()


def test_kernels_talked_to_jupyterlab_over_ipc_without_the_tcp_warning(browser, server):
    """Runs last: every kernel of the tests above used Unix sockets, and none printed the TCP warning."""
    log = (server["home"] / "server.log").read_text(encoding="utf-8")
    assert "without encryption" not in log
    connections = list((server["home"] / "rt").glob("kernel-*.json"))
    assert connections and {json.loads(path.read_text())["transport"] for path in connections} == {"ipc"}
