"""The ``osk`` command line: ``backends``, ``info``, ``fail-trials``, ``demo``, ``copy``,
``bench``, ``dashboard``, ``new-backend``.

Plugins add their own subcommands through the ``register_commands`` hook. A failing command
prints one ``Error:`` line (``osk --debug`` shows the traceback; see
:mod:`optuna_storage_kit.tools.cli_group`).
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys
import tempfile
from typing import TYPE_CHECKING, Any

import click

import optuna_storage_kit as osk

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from optuna_storage_kit.tools import demo as _demo
else:
    # rich, the demo (and Optuna with it) load on first use, so that `osk --version` and
    # `osk --help` start fast.
    def _lazy(module: str, name: str | None = None) -> Any:
        class Lazy:
            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                return getattr(importlib.import_module(module), name)(*args, **kwargs)

            def __getattr__(self, attribute: str) -> Any:
                return getattr(importlib.import_module(module), attribute)

        return Lazy()

    Console = _lazy("rich.console", "Console")
    Table = _lazy("rich.table", "Table")
    _demo = _lazy("optuna_storage_kit.tools.demo")

from optuna_storage_kit.tools.cli_group import OskGroup, debug_option

__all__ = ["cli", "main"]

_plugins_added = False


def _console(stderr: bool = False) -> Console:
    """A console made per command: the terminal's width, or wide when piped (no folding)."""
    from optuna_storage_kit.tools import output

    return output.console(stderr)


@click.group(cls=OskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="optuna-storage-kit", prog_name="osk")
@debug_option
def cli() -> None:
    """optuna-storage-kit: fast, certified storage backends for Optuna."""


def get_cli() -> click.Group:
    """Return the ``osk`` group with every plugin's commands added (once)."""
    global _plugins_added
    if not _plugins_added:
        _plugins_added = True
        osk.get_registry().add_commands(
            cli, lambda m: _console(stderr=True).print(f"[yellow]warning:[/] {m}")
        )
    return cli


def main() -> None:
    """Entry point of the ``osk`` console script.

    Plugins (and the backends and Optuna with them) load only when the command is not one of
    the core's, so that ``osk --version``, ``osk --help`` and the core's commands start fast.
    """
    args = sys.argv[1:]
    command = next((a for a in args if not a.startswith("-")), None)
    if command is not None and command not in cli.commands:
        get_cli()(prog_name="osk")
        return
    if command is None and not _plugins_added and cli.epilog is None:
        cli.epilog = _plugin_commands_note()
    cli(prog_name="osk")


def _plugin_commands_note() -> str | None:
    """The root help's note on plugin commands, read from entry points without loading them."""
    from importlib.metadata import entry_points

    # The group is hookspecs.PROJECT_NAME; hookspecs would import pluggy.
    dists = sorted(
        {e.dist.name for e in entry_points(group="optuna_storage_kit") if e.dist is not None}
        - {"optuna-storage-kit"}
    )
    if not dists:
        return None
    return (
        f"Installed plugins ({', '.join(dists)}) may add commands: they load when a command "
        "names them (osk COMMAND --help), so they are not listed here."
    )


@cli.command()
@click.option("--options", "show_options", is_flag=True, help="Also list each backend's options.")
def backends(show_options: bool) -> None:
    """List the installed backends, their capabilities, and plugins that failed to load."""
    out = _console()
    registry = osk.get_registry()
    conflicts = registry.conflicts()
    table = Table(title="optuna-storage-kit backends")
    for column in ("backend", "URL schemes", "version", "package", "capabilities", "status"):
        table.add_column(column, overflow="fold")
    for backend in registry.backends():
        clashes = [s for s in backend.schemes if s in conflicts]
        status = (
            f"[red]conflict[/]: {', '.join(clashes)} also claimed by "
            + ", ".join(n for s in clashes for n in conflicts[s] if n != backend.name)
            if clashes
            else "[green]ok[/]"
        )
        table.add_row(
            backend.name,
            ", ".join(f"optuna+{s}://" for s in backend.schemes),
            backend.version,
            registry.distribution_of(backend) or "-",
            ", ".join(backend.capabilities.claimed()) or "-",
            status,
        )
    for broken in registry.broken():
        table.add_row(
            broken.name,
            "-",
            "-",
            broken.distribution or "-",
            "-",
            f"[red]broken[/]: {broken.error}",
        )
    out.print(table)
    if show_options:
        for backend in registry.backends():
            options = Table(title=f"options of {backend.name}")
            for column in ("option", "type", "default", "in URL", "meaning"):
                options.add_column(column, overflow="fold")
            for option in backend.all_options:
                options.add_row(
                    option.name,
                    option.describe_type(),
                    repr(option.default),
                    "yes" if option.in_url else "no",
                    option.help,
                )
            out.print(options)


@cli.command()
@click.argument("url")
def info(url: str) -> None:
    """Show the studies in the storage at URL, trial counts by state, and RUNNING trials.

    URL is any storage osk copy accepts. It is opened read-only: nothing is created or
    changed, and a store that does not exist is an error.
    """
    from optuna_storage_kit.tools import info as _info

    _info.show(url, _console())


@cli.command("fail-trials")
@click.argument("url")
@click.option("--study", "study_name", required=True, metavar="NAME", help="The study.")
@click.option(
    "--number",
    "numbers",
    multiple=True,
    type=click.IntRange(min=0),
    metavar="N",
    help="Fail RUNNING trial number N (repeatable).",
)
@click.option(
    "--older-than",
    metavar="DURATION",
    help="Fail every RUNNING trial quiet for longer than DURATION (90s, 30m, 2h, 1d): no "
    "heartbeat in that time, or, without heartbeats, started before it.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be failed; change nothing.")
def fail_trials(
    url: str, study_name: str, numbers: tuple[int, ...], older_than: str | None, dry_run: bool
) -> None:
    """Mark RUNNING trials of a study FAIL: trials left RUNNING by a process that died.

    This writes to the storage at URL (Optuna's storage.set_trial_state_values(...,
    TrialState.FAIL)). osk info lists RUNNING trials with their age and last heartbeat. A
    trial that finishes meanwhile is left as it is.
    """
    import datetime

    from optuna_storage_kit.tools import locations as _locations
    from optuna_storage_kit.tools import running as _running

    if not numbers and older_than is None:
        raise click.UsageError("choose the trials: --number N (repeatable) or --older-than 2h")
    try:
        quiet = None if older_than is None else _running.parse_duration(older_than)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'--older-than'") from None
    out = _console()
    location = _locations.classify(url)
    storage = _locations.open_any(location, must_exist=True)
    now = datetime.datetime.now()
    chosen = _running.select_trials(
        storage, study_name, numbers=numbers, older_than=quiet, now=now
    )
    if not chosen:
        out.print(
            f"no RUNNING trial of study {study_name!r} is quiet for longer than {older_than}; "
            "nothing was changed",
            markup=False,
            soft_wrap=True,
        )
        return
    outcomes = (
        [_running.FailOutcome(t, False, "would be failed") for t in chosen]
        if dry_run
        else _running.fail_trials(storage, chosen)
    )
    for outcome in outcomes:
        trial = outcome.trial
        age = trial.running_for(now)
        out.print(
            f"trial {trial.number} of {study_name!r}: {outcome.note} (RUNNING for "
            f"{'?' if age is None else _running.format_age(age)}, {trial.last_heartbeat()})",
            markup=False,
            soft_wrap=True,
        )
    failed = sum(o.failed for o in outcomes)
    done = "nothing was changed (--dry-run)" if dry_run else f"{failed} marked FAIL"
    out.print(f"{location.shown}: {done}", markup=False, soft_wrap=True)


@cli.command()
@click.option(
    "--url",
    default=None,
    help="Storage: any URL or journal path osk copy accepts (default: a fresh SQLite file, or "
    "memory).",
)
@click.option(
    "--trials", default=5000, show_default=True, type=click.IntRange(min=1), help="Trials to run."
)
@click.option(
    "--sampler", type=click.Choice(["random", "tpe"]), default="random", show_default=True
)
@click.option(
    "--compare/--no-compare",
    default=True,
    show_default=True,
    help="Also run the same study in memory and print the ratio.",
)
def demo(url: str | None, trials: int, sampler: str, compare: bool) -> None:
    """Optimize a study of TRIALS trials on the default backend and print trials per second."""
    from optuna_storage_kit.tools import output

    out = _console()
    with output.progress() as progress:
        results = _demo.run(
            url=url, trials=trials, sampler=sampler, compare=compare, progress=progress
        )
    _demo.print_results(results, out)


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.option(
    "--study",
    "studies",
    multiple=True,
    metavar="NAME",
    help="Copy only this study (repeatable; default: every study in SRC).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a study of the same name in DST (only once the new copy is verified).",
)
def copy(src: str, dst: str, studies: tuple[str, ...], overwrite: bool) -> None:
    """Copy studies from SRC to DST, then verify the copy field by field.

    SRC and DST are storage URLs (optuna+..., or Optuna's own: sqlite:///x.db,
    postgresql://...) or journal file paths (x.log). Nothing is written when a study already
    exists in DST, unless --overwrite.
    """
    from optuna_storage_kit.tools import copy as _copy
    from optuna_storage_kit.tools import locations as _any_storage
    from optuna_storage_kit.tools import output

    out = _console()
    _quiet_optuna()
    source, target = _any_storage.classify(src), _any_storage.classify(dst)
    if source.same_store(target):
        raise osk.StorageKitError("SRC and DST are the same storage; give another DST")
    src_storage = _any_storage.open_source(source)
    dst_storage = _any_storage.open_any(target)
    with output.progress() as progress:
        results = _copy.copy_studies(
            src_storage,
            dst_storage,
            studies,
            overwrite=overwrite,
            on_study=lambda name, n: progress.start(f"copying {name}", n, "trials"),
            on_trial=progress.advance,
        )
    table = Table(title=f"copied {source.shown} -> {target.shown}")
    for column in ("study", "directions", "trials", "verified"):
        table.add_column(column, overflow="fold")
    for r in results:
        table.add_row(r.study_name, ", ".join(r.directions), str(r.trials), "[green]yes[/]")
    out.print(table)
    total = sum(r.trials for r in results)
    out.print(
        f"{len(results)} stud{'y' if len(results) == 1 else 'ies'}, {total} trials copied and "
        "verified (directions, attributes, states, params, distributions, values, intermediate "
        "values, datetimes)",
        soft_wrap=True,
    )


@cli.command()
@click.argument("urls", nargs=-1, metavar="[URL]...")
@click.option(
    "--trials",
    default=1000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Trials per workload and storage.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Processes on one study, for storages that support several processes.",
)
@click.option(
    "--workload",
    "workloads",
    multiple=True,
    type=click.Choice(["random", "tpe", "get_all_trials"]),
    help="Workloads to run (repeatable; default: all).",
)
@click.option(
    "--baselines/--no-baselines",
    default=True,
    show_default=True,
    help="Also run Optuna's RDBStorage (SQLite file) and JournalStorage (file).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Write a PNG chart of trials/s and ratios to FILE (needs the [bench] extra).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    help="Write every measurement as JSON to FILE.",
)
def bench(
    urls: tuple[str, ...],
    trials: int,
    workers: int,
    workloads: tuple[str, ...],
    baselines: bool,
    plot: pathlib.Path | None,
    json_path: pathlib.Path | None,
) -> None:
    """Time the standard workloads on each URL, Optuna's storages and memory, in one run.

    Without URLs, measures a fresh file on each installed file backend (e.g. optuna+sqlite,
    optuna+journal). Prints trials per second and the time ratio to the in-memory reference.
    """
    from optuna_storage_kit.tools import bench as _bench
    from optuna_storage_kit.tools import output

    out = _console()
    if plot is not None:
        from optuna_storage_kit.tools import bench_plot as _bench_plot

        _bench_plot._pyplot()  # fail now, not after the measurements
    with tempfile.TemporaryDirectory(prefix="osk-bench-") as tmp, output.progress() as progress:
        directory = pathlib.Path(tmp)
        results = _bench.run(
            list(urls) or _bench.default_urls(directory),
            _bench.baseline_urls(directory) if baselines else [],
            trials=trials,
            workers=workers,
            workloads=workloads or _bench.WORKLOADS,
            progress=progress,
        )
    report = _bench.report(results, trials=trials, workers=workers)
    table = Table(title=f"osk bench: {trials} trials per storage (ratio: time / in-memory time)")
    columns = ["workload", "storage", "URL", "procs", "seconds", "trials/s", "ratio"]
    if workers > 1:
        columns.append("start-up s")  # the workers' start-up, not in "seconds"
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in report["results"]:
        cells = [
            row["workload"],
            row["label"],
            row["url"],
            str(row["workers"]),
            f"{row['seconds']:.2f}",
            f"{row['trials_per_second']:,.0f}",
            f"{row['ratio_to_memory']:.1f}x",
        ]
        if workers > 1:
            cells.append(f"{row['startup_seconds']:.2f}" if row["workers"] > 1 else "-")
        table.add_row(*cells)
    out.print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")
        out.print(f"wrote {json_path}")
    if plot is not None:
        from optuna_storage_kit.tools import bench_plot as _bench_plot

        _bench_plot.plot(report, plot)
        out.print(f"wrote {plot}")


@cli.command()
@click.argument("url")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="TCP port to listen on.")
def dashboard(url: str, host: str, port: int) -> None:
    """Serve optuna-dashboard on the storage at URL (needs the [dashboard] extra).

    URL is any storage osk copy accepts: optuna+..., sqlite:///x.db, postgresql://..., or a
    journal file path. Stop it with Ctrl-C.
    """
    from optuna_storage_kit.tools import dashboard as _dashboard
    from optuna_storage_kit.tools import locations as _any_storage

    out = _console(stderr=True)
    try:
        _dashboard._run_server()  # fail now if the extra is missing
        shown = _any_storage.classify(url).shown
        out.print(f"optuna-dashboard on {shown}: http://{host}:{port}/dashboard (Ctrl-C stops)")
        _dashboard.serve(url, host=host, port=port)
    except osk.StorageKitError as err:
        raise click.ClickException(str(err)) from None
    except KeyboardInterrupt:
        out.print("stopped")


@cli.command("new-backend")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=pathlib.Path),
    default=pathlib.Path("."),
    show_default=True,
    help="Where to create the package directory osk-NAME.",
)
def new_backend(name: str, parent: pathlib.Path) -> None:
    """Generate osk-NAME, a backend package for optuna+NAME:// URLs that passes osk certify.

    It holds the entry point, the hook implementation, a working storage to replace (Optuna's
    in-memory storage, one store per name), tests on the conformance kit's fixtures and a
    tox.ini.
    """
    from optuna_storage_kit.tools import scaffold as _scaffold

    out = _console()
    try:
        target = _scaffold.generate(name, parent)
    except osk.StorageKitError as err:
        raise click.ClickException(str(err)) from None
    out.print(f"created {target}", soft_wrap=True)
    out.print(
        f"next: cd {target} && pip install -e '.[test]' && pytest && "
        f"osk certify 'optuna+{name}://{{name}}' --quick",
        soft_wrap=True,
        markup=False,
    )


def _quiet_optuna() -> None:
    """Keep Optuna's per-study INFO lines out of the tools' output."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


if __name__ == "__main__":  # pragma: no cover
    main()
