"""Policy files, input files, plug-ins, documents and messages under hostile input.

Each test here failed before its fix: a pattern that hangs evaluation, bad patterns as internal
errors, effective dates silently dropped, ids with a trailing newline, an accepting fallback for
missing facts, files read whole before their size was checked (``/dev/zero``, FIFOs), a compile
cache that mixed up registers and file paths, plug-ins that broke the built-ins, Markdown
injection in generated documents, and terminal escapes in messages.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import threading
import warnings
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import recnav_rules
from recnav_rules import _io
from recnav_rules.errors import FactProblem, FactValidationError, PolicyError, printable
from recnav_rules.facts_input import read_facts
from recnav_rules.policies import registry
from recnav_rules.policies.register import load_epraccur, load_pcn_membership
from recnav_rules.tools.cases import load_cases
from recnav_rules.tools.policy_docs import render_policy
from tests.conftest import BASELINE

AS_OF = dt.date(2026, 11, 20)

TINY = """\
policies:
  - id: tiny
    version: 1.0.0
    title: A tiny policy
    sources:
      doc: {file: doc.txt, title: A document}
    facts:
      code: {type: string, PATTERN description: A code.}
      member: {type: bool, description: Is a member.}
    rules:
      - id: not-member
        when: {fact: member, eq: false}
        outcome: reject
        reason: Members only.
        assumption: Members only.
    otherwise:
      outcome: accept
      reason: A member.
      assumption: Members are eligible.
    incomplete:
      outcome: INCOMPLETE
      reason: Not enough information.
      assumption: Unknown means no.
"""


def tiny(tmp_path: Path, *, pattern: str | None = None, incomplete: str = "reject", extra: str = "", name: str = "tiny.yaml") -> Path:
    text = TINY.replace("PATTERN ", "pattern: '" + pattern.replace("'", "''") + "', " if pattern is not None else "").replace("INCOMPLETE", incomplete)
    text = text.replace("    title: A tiny policy\n", "    title: A tiny policy\n" + extra)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def located(exc: PolicyError) -> tuple[int | None, int | None, str]:
    return exc.line, exc.column, exc.code


# --- patterns -------------------------------------------------------------------------------------


def test_a_catastrophic_pattern_runs_in_linear_time(tmp_path: Path) -> None:
    """``^(a|a)*$`` on 31 a's and a b took hours with Python's re; a subprocess bounds the wait."""
    path = tiny(tmp_path, pattern="^(a|a)*$")
    script = (
        "import sys, recnav_rules\n"
        f"p = recnav_rules.load_policy({str(path)!r})\n"
        "try:\n"
        "    p.evaluate({'code': 'a' * 31 + 'b', 'member': True}, as_of='2026-11-20')\n"
        "except recnav_rules.FactValidationError as exc:\n"
        "    print(exc.fields)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-300:]
    assert done.stdout.strip() == "('code',)"
    assert done.stderr == ""  # RE2 logs nothing of its own


def test_a_pattern_still_matches_what_it_should(tmp_path: Path) -> None:
    policy = recnav_rules.load_policy(tiny(tmp_path, pattern=r"[A-Z]\d{2}"))
    assert policy.evaluate({"code": "A12", "member": True}, as_of=AS_OF).outcome.value == "accept"
    for bad in ("A12\n", "a12", "A123"):
        with pytest.raises(FactValidationError) as caught:
            policy.evaluate({"code": bad, "member": True}, as_of=AS_OF)
        assert caught.value.fields == ("code",)


@pytest.mark.parametrize(("pattern", "reason"), [("([a-", "missing ]"), (r"(a)\1", "invalid escape"), ("(?=a)", "")])
def test_a_bad_pattern_is_a_located_error(tmp_path: Path, pattern: str, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(tiny(tmp_path, pattern=pattern))
    assert located(caught.value) == (8, 37, "bad-pattern")
    assert reason in str(caught.value) and "RE2" in str(caught.value)


# --- effective dates, ids, fallbacks ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["'2030-02-30'", "'2030-13-01'"])
def test_an_impossible_effective_date_is_a_located_error(tmp_path: Path, value: str) -> None:
    path = tiny(tmp_path, extra=f"    effective: {{from: {value}}}\n")
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(path)
    assert located(caught.value) == (5, 23, "bad-date")


def test_an_effective_date_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = tiny(tmp_path, extra='    effective: {from: "2030-01-01\\n"}\n')
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(path)
    assert caught.value.line == 5


def test_an_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = tiny(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("id: tiny", 'id: "inject\\n"'), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(path)
    assert caught.value.line == 2
    assert "\n" not in str(caught.value)


def test_a_fallback_that_accepts_missing_facts_does_not_load(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(tiny(tmp_path, incomplete="accept"))
    assert located(caught.value) == (21, 16, "unsafe-fallback")


# --- bounded reading ----------------------------------------------------------------------------------


def test_a_device_is_refused_everywhere_a_file_is_expected() -> None:
    readers = [
        lambda: recnav_rules.load_policy("/dev/zero#x"),
        lambda: read_facts("/dev/zero"),
        lambda: load_cases("/dev/zero"),
        lambda: load_pcn_membership("/dev/zero"),
        lambda: load_epraccur("/dev/zero", as_of=AS_OF),
    ]
    for read in readers:
        with pytest.raises(PolicyError) as caught:
            read()
        assert caught.value.code == "not-a-file" and "a device, not a regular file" in str(caught.value)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="a directory, not a regular file"):
        read_facts(str(tmp_path))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "facts.json"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_facts(str(fifo))
        except PolicyError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():  # the reader hangs: unblock it so the test run can go on
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert "a pipe (FIFO), not a regular file" in str(outcome[0])


def test_a_huge_file_is_refused_after_reading_just_past_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:  # 3 GB, sparse: no disk used
        handle.truncate(3 * 1024**3)
    reads: list[int] = []
    real = os.read
    monkeypatch.setattr(_io.os, "read", lambda fd, n: reads.append(n) or real(fd, n))
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(big)
    assert caught.value.code == "too-large"
    assert sum(reads) <= 2 * 1024 * 1024 + 1


def test_exactly_at_the_limit_is_read_and_one_past_is_not(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert _io.read_bounded(path, 100) == b"x" * 100
    with pytest.raises(PolicyError, match="larger than 99 bytes"):
        _io.read_bounded(path, 99)


def test_standard_input_is_bounded_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"{" + b" " * (3 * 1024 * 1024) + b"}")

    monkeypatch.setattr(sys, "stdin", Stdin())
    with pytest.raises(PolicyError) as caught:
        read_facts("-")
    assert caught.value.code == "too-large" and caught.value.file == "<stdin>"
    assert Stdin.buffer.tell() == 2 * 1024 * 1024 + 1  # read just past the limit, no more


# --- the compile cache (issue 9, defect a) ------------------------------------------------------------


def test_the_cache_keeps_registers_of_different_dates_apart() -> None:
    csv = Path(recnav_rules.__file__).parent / "policies" / "data" / "gp_practices.csv"
    old = load_epraccur(csv, as_of=dt.date(2020, 1, 1), name="ODS extract")
    new = load_epraccur(csv, as_of=dt.date(2026, 11, 1), name="ODS extract")
    assert old.digest == new.digest  # same bytes: only the date differs
    first = recnav_rules.load_policy("bnssg-hiu-pilot", register=old).evaluate(BASELINE, as_of=AS_OF)
    second = recnav_rules.load_policy("bnssg-hiu-pilot", register=new).evaluate(BASELINE, as_of=AS_OF)
    assert first.to_dict()["reference_data"]["gp_practices"]["as_of"] == "2020-01-01"
    assert second.to_dict()["reference_data"]["gp_practices"]["as_of"] == "2026-11-01"


def test_a_copy_of_a_builtin_file_does_not_change_the_builtin_policy(tmp_path: Path) -> None:
    builtin = recnav_rules.load_policy("bnssg-hiu-pilot")
    copy = tmp_path / "bnssg.yaml"
    copy.write_bytes(Path(builtin.file).read_bytes())
    for source in Path(builtin.file).parent.glob("sources*"):
        (tmp_path / source.name).symlink_to(source)
    assert recnav_rules.load_policy(f"{copy}#bnssg-hiu-pilot").file == str(copy)
    assert recnav_rules.load_policy("bnssg-hiu-pilot").file == builtin.file


# --- plug-ins -----------------------------------------------------------------------------------------


def plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bodies: dict[str, str]) -> None:
    """Fake installed plug-ins: entry point name -> the body of its ``files()`` function."""
    entries = []
    for name, body in bodies.items():
        module = tmp_path / f"plugin_{name}.py"
        module.write_text(f"import sys\n\ndef files():\n    {body}\n", encoding="utf-8")
        entries.append(EntryPoint(name=name, value=f"plugin_{name}:files", group=registry.ENTRY_POINT_GROUP))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "entry_points", lambda group: entries if group == registry.ENTRY_POINT_GROUP else [])


BROKEN = {
    "raises": "raise RuntimeError('secret \\x1b[31m text')",
    "exits": "sys.exit(3)",
    "none": "return None",
    "number": "return 42",
}


def test_broken_plugins_never_stop_the_builtins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plugins(monkeypatch, tmp_path, BROKEN)
    assert recnav_rules.load_policy("bnssg-hiu-pilot").id == "bnssg-hiu-pilot"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ids = {p.id for p in recnav_rules.list_policies()}
    assert "bnssg-hiu-pilot" in ids
    messages = sorted(str(w.message) for w in caught if issubclass(w.category, registry.PluginWarning))
    assert messages == [
        "plug-in 'exits' could not be loaded (SystemExit)",
        "plug-in 'none' returned NoneType, not a path or an iterable of paths",
        "plug-in 'number' returned int, not a path or an iterable of paths",
        "plug-in 'raises' could not be loaded (RuntimeError)",
    ]


def test_asking_for_a_plugin_policy_names_the_broken_plugin_not_its_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    plugins(monkeypatch, tmp_path, BROKEN)
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy("their-policy")
    text = " ".join(p.render() for p in caught.value.problems)
    assert "no policy with id 'their-policy'" in text and "plug-in 'raises' could not be loaded (RuntimeError)" in text
    assert "secret" not in text


def test_a_plugin_calling_exit_does_not_end_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from recnav_rules.cli import main

    plugins(monkeypatch, tmp_path, {"exits": "sys.exit(3)"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["list"]) == 0
    assert "bnssg-hiu-pilot" in capsys.readouterr().out


def test_a_plugin_cannot_shadow_a_builtin_id(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tiny(tmp_path, name="fake.yaml")
    fake.write_text(fake.read_text(encoding="utf-8").replace("id: tiny", "id: bnssg-hiu-pilot"), encoding="utf-8")
    plugins(monkeypatch, tmp_path, {"shadow": f"return [{str(fake)!r}]"})
    assert recnav_rules.load_policy("bnssg-hiu-pilot").title != "A tiny policy"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        listed = [p for p in recnav_rules.list_policies() if p.id == "bnssg-hiu-pilot"]
    assert [p.origin for p in listed] == ["builtin"]
    assert any("plug-in 'shadow' policy 'bnssg-hiu-pilot' ignored: the id is taken (builtin)" in str(w.message) for w in caught)


# --- documents and messages ---------------------------------------------------------------------------


def test_policy_documents_show_hostile_text_as_text(tmp_path: Path) -> None:
    path = tiny(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("title: A tiny policy", "title: \"<script>alert(1)</script>\"")
    text = text.replace("reason: Members only.", "reason: \"[click](javascript:alert(1)) <img src=x onerror=alert(1)> a|b\"")
    text = text.replace("description: Is a member.", "description: \"cell | breaker `code` &lt;\"")
    path.write_text(text, encoding="utf-8")
    doc = render_policy(recnav_rules.load_policy(path).compiled)
    assert "<script>" not in doc and "<img" not in doc and "](javascript:" not in doc
    assert "# &lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "[click]\\(javascript:alert(1)) &lt;img src=x onerror=alert(1)&gt; a\\|b" in doc
    row = next(line for line in doc.splitlines() if line.startswith("| `member`"))
    assert row.count("|") - row.count("\\|") == 4  # the table keeps its three columns
    assert "\\`code\\` &amp;lt;" in row


def test_control_characters_are_escaped_in_every_message() -> None:
    assert printable("ok é") == "ok é"
    assert printable("a\x1b[2Jb\r\n\t\u202e\x9b\ud800") == "a\\x1b[2Jb\\r\\n\\t\\u202e\\x9b\\ud800"
    error = FactValidationError([FactProblem("name\x1b[31m", "bad \x07 value")])
    assert "\x1b" not in str(error) and "\x07" not in str(error)
    assert str(error).endswith("name\\x1b[31m: bad \\x07 value")
    policy_error = PolicyError.at("file\x1b.yaml", 1, 1, "code", "message\x1b]0;title\x07")
    assert str(policy_error) == "file\\x1b.yaml:1:1: error: message\\x1b]0;title\\x07"


def test_a_hostile_fact_name_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    facts = tmp_path / "facts.json"
    facts.write_text('{"\\u001b[2J\\u001b[31mage": 1}', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "recnav_rules.cli", "evaluate", "--policy", "bnssg-hiu-pilot", "--as-of", "2026-11-20", str(facts)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "\\x1b[2J" in done.stderr


def test_an_unpaired_surrogate_is_a_bad_fact_not_an_internal_error() -> None:
    policy = recnav_rules.load_policy("somerset-integrated-model")
    with pytest.raises(FactValidationError) as caught:
        policy.evaluate({"gp_sub_icb_code": "\ud800"}, as_of=AS_OF)
    assert caught.value.fields == ("gp_sub_icb_code",)
    assert "unpaired surrogate" in str(caught.value)


def test_an_unpaired_surrogate_in_a_policy_file_is_a_located_error(tmp_path: Path) -> None:
    path = tiny(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("title: A tiny policy", 'title: "\\ud800\\udc00"'), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        recnav_rules.load_policy(path)
    assert located(caught.value) == (4, 12, "yaml-value")
