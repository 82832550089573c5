"""python -m cbring: options after the subcommand, argparse errors, 80 columns."""

import os
import subprocess
import sys

import pytest

import cbring

SMALL = ["--threads", "1", "--events", "20000", "--ctypes-events", "500"]


def cbring_main(*args):
    env = dict(os.environ, COLUMNS="80")
    return subprocess.run([sys.executable, "-m", "cbring", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def fits_80_columns(text):
    return all(len(line) <= 80 for line in text.splitlines())


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_help_fits_80_columns_without_markup(args):
    result = cbring_main(*args)
    assert result.returncode == 0, result.stderr
    assert "usage: python -m cbring" in result.stdout
    assert fits_80_columns(result.stdout)
    assert "``" not in result.stdout and ":func:" not in result.stdout


def test_version_prints_the_package_version():
    result = cbring_main("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"cbring {cbring.__version__}"


@pytest.mark.parametrize("args, says", [
    (["demo", "--threads", "0"], "argument --threads: must be between 1 and 65,536, got 0"),
    (["demo", "--threads", "two"], "argument --threads: expected a whole number, got 'two'"),
    (["--events", "0", "--ctypes-events", "0"], "argument --events: must be at least 1, got 0"),
    (["demo", "--ctypes-events", "-5"], "argument --ctypes-events: must be at least 1, got -5"),
    (["demo", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_a_bad_option_is_an_argparse_error_not_a_traceback(args, says):
    result = cbring_main(*args)
    assert result.returncode == 2
    assert says in " ".join(result.stderr.split())  # wrapped to 80 columns
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert fits_80_columns(result.stderr)


@pytest.mark.parametrize("args", [["demo", *SMALL], SMALL])
def test_demo_takes_its_options_after_the_subcommand_or_alone(args):
    result = cbring_main(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"cbring {cbring.__version__}: 1 native thread simulating")


def test_demo_output_off_a_terminal_has_no_progress_and_fits_80_columns():
    result = cbring_main("demo", *SMALL)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\r" not in out and fits_80_columns(out)
    lines = out.splitlines()
    # the final count of each path, once, then the table: one unit per column
    assert "  cbring: 20,000 of 20,000 events, " in out
    assert "  ctypes: 500 of 500 events, " in out
    header = next(line for line in lines if line.split()[:1] == ["path"])
    assert header.split() == ["path", "events", "events/s", "mean", "stall", "ns", "worst",
                              "stall", "ns"]
    rows = {line.split()[0] + " " + line.split()[1]: line.split()[2:]
            for line in lines[lines.index(header) + 1:] if line.startswith("  c") and "x the" not in line}
    assert rows["cbring drain_into"][0] == "20,000"
    assert rows["ctypes callback"][0] == "500"
    assert all(cell.replace(",", "").isdigit() for row in rows.values() for cell in row)
    assert "every event arrived" in out


def test_on_a_terminal_progress_is_rewritten_in_place_and_ends_with_the_final_count():
    import io

    from cbring.__main__ import _Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    progress = _Progress("cbring", 1000, out)
    progress.update(10)      # the first update is drawn at once
    progress.finish(1000)
    text = out.getvalue()
    assert text.startswith("\r  cbring: 10 of 1,000 events, ") and text.endswith("\n")
    assert text.count("\n") == 1 and "\r  cbring: 1,000 of 1,000 events, " in text
    assert all(len(part.rstrip("\n")) <= 79 for part in text.split("\r"))
