"""``spanlite run -- COMMAND``: any program traced with no change to its code; the program itself left as it was."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fake_llm_server import TEXT, FakeLLMServer
from spanlite._run import BOOTSTRAP
from spanlite._run import environment as environment_for
from spanlite.autolog import import_names
from spanlite.store import TraceStore

# The app and its child know nothing of spanlite: the real openai SDK against the fake server at argv[1].
CALL = """
import sys
import openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="test", max_retries=0)
reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": WHO}])
print(reply.choices[0].message.content, flush=True)
"""
APP = "WHO = 'from app'\n" + CALL + "import subprocess\nsubprocess.run([sys.executable, 'child.py', sys.argv[1]])\n"
CHILD = "WHO = 'from child'\n" + CALL
PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    srv = FakeLLMServer().start()
    yield srv
    srv.stop()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "child.py").write_text(CHILD)
    return folder


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "SPANLITE_STRICT": "0", **extra}


def spanlite_run(
    db: Path, command: Sequence[str], *options: str, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    kwargs.setdefault("text", True)
    return subprocess.run(
        [sys.executable, "-m", "spanlite.cli", "run", "--db", str(db), *options, "--", *command],
        capture_output=True, timeout=120, env=env or environment(), **kwargs,
    )  # fmt: skip


def model_spans(db: Path) -> list[tuple[str, str, str]]:
    """(name, kind, the user message) of each model span in the store, sorted; every span stored, none dropped."""
    with TraceStore(db) as store:
        assert store.stats()["dropped_spans"] == 0
        rows = store.rows("SELECT name, kind, inputs FROM spans WHERE kind = 'CHAT_MODEL'")
    return sorted(
        (r["name"], r["kind"], next(w for w in ("app", "child", "spawn", "-") if w in r["inputs"])) for r in rows
    )


def test_a_script_and_the_python_child_it_starts_are_traced(
    db_path: Path, app_dir: Path, server: FakeLLMServer
) -> None:
    assert "spanlite" not in APP + CHILD
    done = spanlite_run(db_path, [sys.executable, "app.py", server.url], cwd=app_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{TEXT}\n{TEXT}\n", "")
    assert model_spans(db_path) == [("chat gpt-4o-mini", "CHAT_MODEL", w) for w in ("app", "child")]
    with TraceStore(db_path) as store:
        assert store.stats()["traces"] == 2


def test_python_dash_m_is_traced(db_path: Path, app_dir: Path, server: FakeLLMServer) -> None:
    done = spanlite_run(db_path, [sys.executable, "-m", "app", server.url], cwd=app_dir)
    assert (done.returncode, done.stderr) == (0, "")
    assert [who for *_, who in model_spans(db_path)] == ["app", "child"]


def test_a_program_that_is_not_python_runs_as_it_is_and_its_python_children_are_traced(
    db_path: Path, app_dir: Path, server: FakeLLMServer
) -> None:
    shell = f"cat; {sys.executable} app.py {server.url}; exit 4"
    done = spanlite_run(db_path, ["sh", "-c", shell], cwd=app_dir, input="from stdin\n")
    assert (done.returncode, done.stdout, done.stderr) == (4, f"from stdin\n{TEXT}\n{TEXT}\n", "")
    assert [who for *_, who in model_spans(db_path)] == ["app", "child"]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_multiprocessing_children_are_traced(db_path: Path, tmp_path: Path, server: FakeLLMServer, method: str) -> None:
    script = tmp_path / "pool.py"
    script.write_text(
        "import multiprocessing, sys\nimport openai\n\n"
        "def call(url):\n"
        "    client = openai.OpenAI(base_url=url, api_key='test', max_retries=0)\n"
        "    client.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'spawn'}])\n\n"
        "if __name__ == '__main__':\n"
        f"    process = multiprocessing.get_context({method!r}).Process(target=call, args=(sys.argv[1],))\n"
        "    process.start()\n    process.join()\n    sys.exit(process.exitcode)\n"
    )
    done = spanlite_run(db_path, [sys.executable, str(script), server.url])
    assert (done.returncode, done.stderr) == (0, "")
    assert [who for *_, who in model_spans(db_path)] == ["spawn"]


@pytest.mark.parametrize(
    ("code", "status", "err"), [("pass", 0, ""), ("sys.exit(3)", 3, ""), ("sys.exit('msg')", 1, "msg\n")]
)
def test_the_exit_code_and_output_are_the_programs(db_path: Path, code: str, status: int, err: str) -> None:
    program = [sys.executable, "-c", f"import sys\nprint('out')\n{code}"]
    alone = subprocess.run(program, capture_output=True, text=True, timeout=60)
    done = spanlite_run(db_path, program)
    assert (done.returncode, done.stdout, done.stderr) == (alone.returncode, alone.stdout, alone.stderr)
    assert (done.returncode, done.stdout, done.stderr) == (status, "out\n", err)


def test_stdin_and_stdout_pass_through_byte_for_byte(db_path: Path) -> None:
    data = bytes(range(256)) * 64 + b"\r\n\x00no newline at the end"
    program = [sys.executable, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])"]
    done = spanlite_run(db_path, program, input=data, text=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, data[::-1], b"")


def test_sigterm_to_the_run_pid_reaches_the_program_and_its_spans_are_kept(
    db_path: Path, app_dir: Path, server: FakeLLMServer
) -> None:
    (app_dir / "wait.py").write_text("WHO = 'from app'\n" + CALL + "import os, time\nprint(os.getpid(), flush=True)\n"
                                     "time.sleep(120)\n")  # fmt: skip
    command = [sys.executable, "-m", "spanlite.cli", "run", "--db", str(db_path), "--"]
    app = subprocess.Popen(
        [*command, sys.executable, "wait.py", server.url],
        cwd=app_dir, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert app.stdout is not None
    assert app.stdout.readline() == f"{TEXT}\n"
    assert app.stdout.readline() == f"{app.pid}\n"  # the program runs in the very process started
    app.send_signal(signal.SIGTERM)
    _, err = app.communicate(timeout=60)
    assert app.returncode == -signal.SIGTERM, err
    assert model_spans(db_path) == [("chat gpt-4o-mini", "CHAT_MODEL", "app")]


USER_SITE = """
import os, sys
with open(os.environ["SITE_LOG"], "a") as log:
    log.write(f"{os.getpid()} {sys.argv[0]}\\n")
MARK = "user's"
"""


def test_a_users_sitecustomize_still_runs_once_in_each_process(
    db_path: Path, app_dir: Path, tmp_path: Path, server: FakeLLMServer
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(USER_SITE)
    mark = "import sitecustomize\nprint(sitecustomize.MARK, flush=True)\n"
    (app_dir / "app.py").write_text(mark + APP)
    (app_dir / "child.py").write_text(mark + CHILD)
    log = tmp_path / "site.log"
    env = environment(PYTHONPATH=str(tmp_path / "site"), SITE_LOG=str(log))
    done = spanlite_run(db_path, [sys.executable, "app.py", server.url], cwd=app_dir, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"user's\n{TEXT}\nuser's\n{TEXT}\n", "")
    # `python -m spanlite.cli` (a Python process too, with the user's PYTHONPATH), then in its place the app
    # (same pid), then the child: once each
    cli, app, child = (line.split() for line in log.read_text().splitlines())
    assert (cli[1], app[1], child[1]) == ("-m", "app.py", "child.py")
    assert cli[0] == app[0] != child[0]
    assert [who for *_, who in model_spans(db_path)] == ["app", "child"]


def test_a_failing_sitecustomize_is_reported_as_python_reports_it(db_path: Path, tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("raise RuntimeError('broken site')\n")
    program = [sys.executable, "-c", "print('still runs')"]
    env = environment(PYTHONPATH=str(tmp_path))
    alone = subprocess.run(program, capture_output=True, text=True, timeout=60, env=env)
    done = spanlite_run(db_path, program, env=env)
    # twice: `spanlite run` is a Python process with the same PYTHONPATH too, before the program takes its place
    assert (done.returncode, done.stdout, done.stderr) == (alone.returncode, alone.stdout, alone.stderr * 2)
    assert "RuntimeError: broken site" in done.stderr and done.stdout == "still runs\n"


def test_a_program_that_sets_pythonpath_for_its_children(
    db_path: Path, app_dir: Path, tmp_path: Path, server: FakeLLMServer
) -> None:
    """A child given a PYTHONPATH of its own runs as it would, untraced; one that keeps the inherited one is
    traced."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper.py").write_text("WHO = 'from child'\n")
    (app_dir / "child.py").write_text("from helper import WHO\n" + CALL)
    (app_dir / "app.py").write_text(
        "import os, subprocess, sys\n"
        f"lib = {str(tmp_path / 'lib')!r}\n"
        "for path in (lib, lib + os.pathsep + os.environ['PYTHONPATH']):\n"
        "    env = {**os.environ, 'PYTHONPATH': path}\n"
        "    subprocess.run([sys.executable, 'child.py', sys.argv[1]], env=env, check=True)\n"
    )
    done = spanlite_run(db_path, [sys.executable, "app.py", server.url], cwd=app_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{TEXT}\n{TEXT}\n", "")
    assert [who for *_, who in model_spans(db_path)] == ["child"]


def test_an_interpreter_without_spanlite_runs_the_program_untraced_and_says_so_once(
    db_path: Path, tmp_path: Path
) -> None:
    venv.create(tmp_path / "other", with_pip=False)  # another environment: spanlite is not installed there
    python = str(tmp_path / "other" / "bin" / "python")
    (tmp_path / "openai.py").write_text("NAME = 'a library autolog watches for'\n")
    (tmp_path / "prog.py").write_text(
        "import subprocess, sys\nimport openai\nprint('parent', flush=True)\n"
        "subprocess.run([sys.executable, '-c', 'import openai; print(\"child\")'], check=True)\n"
    )
    done = spanlite_run(db_path, [python, "prog.py"], cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "parent\nchild\n")
    reason = "cannot import spanlite (No module named 'spanlite')"
    assert done.stderr == f"spanlite run: {python} {reason}; this program runs untraced\n"


def test_a_library_imported_before_the_bootstrap_by_a_pth_file_is_autologged(
    db_path: Path, app_dir: Path, tmp_path: Path, server: FakeLLMServer
) -> None:
    venv.create(tmp_path / "env", with_pip=False)
    site = Path(subprocess.check_output([tmp_path / "env" / "bin" / "python", "-c", PURELIB], text=True).strip())
    # This environment's packages (and its editable spanlite's finder), then a .pth file that imports openai:
    # site runs .pth files in name order, all before any sitecustomize.
    ours = sysconfig.get_paths()["purelib"]
    editable = [line for pth in Path(ours).glob("__editable__*.pth") for line in pth.read_text().splitlines()]
    (site / "a_packages.pth").write_text("\n".join([ours, *editable]) + "\n")
    (site / "b_preload.pth").write_text("import openai\n")
    python = str(tmp_path / "env" / "bin" / "python")
    done = spanlite_run(db_path, [python, "child.py", server.url], cwd=app_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{TEXT}\n", "")
    assert [who for *_, who in model_spans(db_path)] == ["child"]


def test_uv_run_is_traced(db_path: Path, app_dir: Path, tmp_path: Path, server: FakeLLMServer) -> None:
    uv = pytest.importorskip("uv").find_uv_bin()
    env = environment(VIRTUAL_ENV=sys.prefix, UV_OFFLINE="1", UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp_path / "uv"))
    command = [uv, "run", "--no-project", "python", "app.py", server.url]  # the Python of $VIRTUAL_ENV
    done = spanlite_run(db_path, command, cwd=app_dir, env=env)
    assert (done.returncode, done.stdout) == (0, f"{TEXT}\n{TEXT}\n"), done.stderr
    assert [who for *_, who in model_spans(db_path)] == ["app", "child"]


def test_no_autolog_keeps_only_the_spans_the_program_makes(db_path: Path, app_dir: Path, server: FakeLLMServer) -> None:
    (app_dir / "own.py").write_text(
        "import spanlite\n\n@spanlite.trace\ndef answer():\n    return 42\n\nanswer()\nWHO = 'from app'\n" + CALL
    )
    done = spanlite_run(db_path, [sys.executable, "own.py", server.url], "--no-autolog", cwd=app_dir)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{TEXT}\n", "")
    assert model_spans(db_path) == []
    with TraceStore(db_path) as store:
        assert [r["name"] for r in store.rows("SELECT name FROM spans")] == ["answer"]


def test_the_environment_puts_the_bootstrap_first_once_and_keeps_the_users_paths(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    env = environment_for({"PYTHONPATH": os.pathsep.join(["", "lib"]), "SPANLITE_RUN_WARNED": "1"}, db, autolog=True)
    assert env["PYTHONPATH"] == os.pathsep.join([BOOTSTRAP, "", "lib"])  # "" is the working directory: kept
    assert (env["SPANLITE_DB"], env["SPANLITE_AUTOLOG"].split(",")) == (str(db), import_names())
    assert "SPANLITE_RUN_WARNED" not in env
    nested = environment_for(env, db, autolog=False)  # `spanlite run --no-autolog` inside `spanlite run`
    assert nested["PYTHONPATH"] == env["PYTHONPATH"] and "SPANLITE_AUTOLOG" not in nested
    assert environment_for({}, Path("rel.db"), autolog=False) == {
        "PYTHONPATH": BOOTSTRAP, "SPANLITE_DB": str(Path.cwd() / "rel.db"),  # absolute: the program may chdir
    }  # fmt: skip


def test_a_missing_command_is_one_line_and_exit_127(db_path: Path, tmp_path: Path) -> None:
    done = spanlite_run(db_path, ["no-such-command-spanlite", "arg"])
    assert (done.returncode, done.stdout, done.stderr) == (
        127, "", "spanlite run: command not found: no-such-command-spanlite\n",
    )  # fmt: skip
    (tmp_path / "plain.txt").write_text("not a program")
    done = spanlite_run(db_path, [str(tmp_path / "plain.txt")])
    assert (done.returncode, done.stderr) == (126, f"spanlite run: permission denied: {tmp_path / 'plain.txt'}\n")


@pytest.mark.parametrize("kind", ["text", "sqlite"])
def test_a_db_that_is_not_a_store_is_refused_and_never_written(tmp_path: Path, kind: str) -> None:
    (tmp_path / "other").mkdir()
    path = tmp_path / "other" / "other.db"
    if kind == "text":
        path.write_text("not a database\n")
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE people (name TEXT)")
        conn.close()
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    ran = tmp_path / "ran"
    done = spanlite_run(path, [sys.executable, "-c", f"open({str(ran)!r}, 'w')"])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("spanlite: ") and "spanlite trace store" in done.stderr
    assert done.stderr.count("\n") == 1
    assert not ran.exists()
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before
