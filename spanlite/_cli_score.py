"""``spanlite score``: scorers run on the store's traces as they arrive, each (trace, scorer) at most once, however
many of these run at a time (``spanlite.evaluation.online``)."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from spanlite._cli_args import CommandError, positive_int

BATCH = 100
# the judges that need nothing but a model, by the name their feedback takes (Guidelines and make_judge need more)
JUDGES = {
    "correctness": "Correctness", "groundedness": "Groundedness", "relevance_to_query": "RelevanceToQuery",
    "safety": "Safety",
}  # fmt: skip


def add_command(commands: Any, db: argparse.ArgumentParser, filters: argparse.ArgumentParser) -> None:
    score = commands.add_parser(
        "score",
        parents=[db, filters],
        help="score traces with code scorers or judges, writing feedback; each (trace, scorer) at most once",
        description="Score the finished traces matching the filters that a scorer has not scored yet, writing "
        "feedback on them as `spanlite.evaluate` does; with --watch, go on scoring new traces as they arrive "
        "until interrupted. Several of these may run at once: each (trace, scorer) is scored by one of them.",
    )
    score.add_argument(
        "--scorer",
        action="append",
        default=[],
        dest="scorers",
        metavar="MODULE:NAME",
        help="a scorer (a @spanlite.scorer function, a Scorer or judge object, or a plain function) to import, "
        "e.g. my_checks:concise or spanlite.scorers:Safety; repeat for several (the current directory is on the "
        "import path)",
    )
    score.add_argument(
        "--judge",
        action="append",
        default=[],
        dest="judges",
        metavar="NAME[=MODEL]",
        help=f"a built-in judge ({', '.join(JUDGES)}), with its model as provider:/name (default: the judges' "
        "own), e.g. safety or correctness=openai:/gpt-4o-mini; repeat for several",
    )
    score.add_argument("--sample", type=float, default=1.0, help="share of traces to score, e.g. 0.1 (default: all)")
    score.add_argument("--json", action="store_true", help="each pass's tally as a JSON line")
    score.add_argument("--watch", action="store_true", help="keep scoring new traces until interrupted")
    score.add_argument(
        "--interval", type=float, default=2.0, help="seconds between looks for new traces, with --watch (default: 2)"
    )
    score.add_argument("--workers", type=positive_int, default=8, help="scorer calls at a time (default: 8)")
    score.set_defaults(run=_score)


def _score(args: argparse.Namespace) -> int:
    import spanlite
    from spanlite import cli
    from spanlite.evaluation import online
    from spanlite.store import default_db_path

    scorers = [_load(spec) for spec in args.scorers] + [_judge(spec) for spec in args.judges]
    if not scorers:
        raise CommandError("spanlite score needs a --scorer MODULE:NAME or a --judge NAME[=MODEL]", code=2)
    path = Path(args.db or default_db_path())
    cli._store(args).close()  # the clear error for a missing store, before any is made
    spanlite.configure(db=path)  # judges' own traces go to the same store
    store = spanlite._config.default_store()
    options: dict[str, Any] = {
        "trace_filter": cli._trace_filter(args),
        "sample": args.sample,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "max_workers": args.workers,
        "batch": args.limit or BATCH,
    }
    if not args.watch:
        _report(args, online.score_traces(store, scorers, **options))
        return 0
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"scoring new traces in {path} with {', '.join(s.name for s in scorers)}; Ctrl-C stops", file=sys.stderr)
    try:
        online.watch(store, scorers, stop=stop, interval_s=args.interval, on_pass=lambda t: _report(args, t), **options)
    except KeyboardInterrupt:
        pass
    return 0


def _report(args: argparse.Namespace, tally: Any) -> None:
    if args.json:
        print(orjson.dumps(vars(tally)).decode(), flush=True)
    elif tally.scored or tally.errors or not args.watch:
        print(f"scored {tally.scored}, errors {tally.errors}, sampled out {tally.sampled_out}", flush=True)


def _judge(spec: str) -> Any:
    """The built-in judge ``name[=model]`` names, asking that model."""
    from spanlite.evaluation import judges

    name, _, model = spec.partition("=")
    if name not in JUDGES:
        raise CommandError(f"--judge {spec}: no such judge; built in: {', '.join(JUDGES)}", code=2)
    try:
        return getattr(judges, JUDGES[name])(model=model or None)
    except ValueError as exc:  # a model it cannot name: the command line's mistake
        raise CommandError(f"--judge {spec}: {exc}", code=2) from None


def _load(spec: str) -> Any:
    """The scorer ``module:name`` names: a ``Scorer`` as it is, a ``Scorer`` class made with no arguments, a
    function made a code scorer."""
    from spanlite.evaluation.scorer import Scorer, scorer

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--scorer takes MODULE:NAME, e.g. my_checks:concise; not {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the user's modules beside them
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--scorer {spec}: {exc}") from None
    if isinstance(found, type) and issubclass(found, Scorer):
        return found()
    if isinstance(found, Scorer):
        return found
    if callable(found):
        try:
            return scorer(found)
        except TypeError as exc:
            raise ValueError(f"--scorer {spec}: {exc}") from None
    raise ValueError(f"--scorer {spec} is a {type(found).__name__}, not a scorer")
