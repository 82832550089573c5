"""The README's quick start runs as written."""

import contextlib
import io
import os
import re

README = os.path.join(os.path.dirname(__file__), os.pardir, "README.md")


def test_quick_start_runs_and_prints_what_its_comments_say():
    with open(README, encoding="utf-8") as f:
        quick_start = re.findall(r"```python\n(.*?)```", f.read(), re.S)[0]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(quick_start, "README.md quick start", "exec"), {})
    # each print() is followed by its output as a comment, inline or on the next line
    lines = quick_start.splitlines()
    expected = []
    for i, line in enumerate(lines):
        if "print(" in line:
            comment = line.split("#", 1)[1] if "#" in line else lines[i + 1].split("#", 1)[1]
            expected.append(comment.strip())
    assert printed.getvalue().splitlines() == expected
