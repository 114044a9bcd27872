"""``osk certify``: run the whole kit on a backend and write its certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from osk_conformance._certify import CATEGORIES

__all__ = ["certify"]


@click.command()
@click.argument("url", required=False)
@click.option("--factory", metavar="MODULE:CALLABLE", help="Certify a factory instead of a URL.")
@click.option(
    "--all-installed",
    "--all",
    "all_backends",
    is_flag=True,
    help="Certify every installed backend (each in OUT/<name>/); see the README for the URLs.",
)
@click.option("--quick", is_flag=True, help="Scaled-down workloads (about a minute on memory).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("osk-certificate"),
    show_default=True,
    help="Directory for certificate.json, certificate.md and certificate.junit.xml.",
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(list(CATEGORIES)),
    help="Run only these categories (repeatable); the certificate marks the others 'not run'.",
)
@click.option(
    "-k",
    "select",
    metavar="EXPRESSION",
    default=None,
    help="Run only the tests whose names match, as pytest's -k (e.g. 'full_disk or "
    "read_only'); the certificate says so, and covers only what ran.",
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, exists=True),
    help=("A previous certificate.json: flag counts up >5% and ratios up >25%."),
)
@click.option("--workers", default=8, show_default=True, help="Threads/processes in tests.")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the random choices (kill points, model sequences); default: 0 with --quick "
    "(CI runs repeat), else drawn at random; written in the certificate for replays.",
)
@click.option(
    "--no-progress", is_flag=True, help="Show pytest's output instead of a progress bar."
)
def certify(
    url: str | None,
    factory: str | None,
    all_backends: bool,
    quick: bool,
    out: Path,
    only: tuple[str, ...],
    select: str | None,
    baseline: str | None,
    workers: int,
    seed: int | None,
    no_progress: bool,
) -> None:
    """Certify the backend at URL (or --factory module:callable) with the conformance kit.

    A file URL gets a fresh store per test (its file name kept under a new directory);
    optuna+memory:// a fresh named store; other URLs may use {dir} and {name} placeholders,
    and without them are one shared store (tests needing an empty store are then skipped).
    Options in the URL's query ('optuna+sqlite:///s.db?write_behind=false') certify that
    variant, with the claims the backend makes for it. Exits non-zero on any failure.
    """
    from osk_conformance._target import Target, installed_targets

    if sum(map(bool, (url, factory, all_backends))) != 1:
        raise click.UsageError(
            "give exactly one of URL, --factory MODULE:CALLABLE or --all-installed"
        )
    settings: dict[str, Any] = {
        "quick": quick,
        "only": only,
        "select": select,
        "baseline": baseline,
        "workers": workers,
        "seed": _seed(seed, quick),
        "progress": not no_progress,
    }
    if not all_backends:
        target = Target.from_url(url) if url else Target.from_factory(str(factory))
        if not _certify_one(target, out, **settings):
            raise SystemExit(1)
        return
    results = {}
    for name, target_or_problem in installed_targets().items():
        if isinstance(target_or_problem, str):
            click.echo(f"NOT CERTIFIED {name}: {target_or_problem}", err=True)
            results[name] = False
            continue
        results[name] = _certify_one(target_or_problem, out / name, **settings)
    click.echo(
        "; ".join(f"{n}: {'pass' if ok else 'FAIL'}" for n, ok in results.items()), err=True
    )
    if not all(results.values()):
        raise SystemExit(1)


def _seed(seed: int | None, quick: bool) -> int:
    """The run's seed: as given; else 0 for ``--quick`` (repeatable CI), else random."""
    import random

    if seed is not None:
        return seed
    return 0 if quick else random.SystemRandom().randrange(2**32)


def _certify_one(
    target: Any,
    out: Path,
    *,
    quick: bool,
    only: tuple[str, ...],
    select: str | None,
    baseline: str | None,
    workers: int,
    seed: int,
    progress: bool,
) -> bool:
    """Certify one target into ``out``; return whether it passed."""
    from osk_conformance._certify import run_suite
    from osk_conformance._report import build_certificate, write_certificate

    categories = list(only) or list(CATEGORIES)
    out.mkdir(parents=True, exist_ok=True)
    click.echo(
        f"Certifying {target.name} {target.version} ({target.source}), seed {seed}", err=True
    )
    settings: dict[str, Any] = {
        "quick": quick,
        "categories": categories,
        "select": select,
        "out": out,
        "baseline": baseline,
        "workers": workers,
        "seed": seed,
    }
    if progress:
        code, collector = _with_progress(target, settings)
    else:
        code, collector = run_suite(target, **settings)
    cert = build_certificate(
        target,
        collector,
        quick=quick,
        categories=categories,
        exit_code=code,
        seed=seed,
        select=select,
    )
    paths = write_certificate(cert, out)
    _summary(cert)
    for path in paths:
        click.echo(f"wrote {path}", err=True)
    return bool(cert["result"] == "pass")


def _with_progress(target: Any, settings: dict[str, Any]) -> tuple[int, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from osk_conformance._certify import run_suite

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[test]}"),
        transient=True,
    ) as progress:
        task = progress.add_task("certify", total=None, test="")

        def advance(nodeid: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, test=nodeid.split("/")[-1][:70])

        return run_suite(target, **settings, progress=advance)


def _summary(cert: dict) -> None:  # type: ignore[type-arg]
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{cert['backend']['name']}: {cert['result'].upper()}")
    for column in ("category", "status", "passed", "failed", "skipped"):
        table.add_column(column)
    for name, section in cert["categories"].items():
        table.add_row(
            name,
            section["status"],
            *(str(section.get(k, "-")) for k in ("passed", "failed", "skipped")),
        )
    Console(stderr=True).print(table)
    if cert["result"] != "pass":
        failures = [
            t for s in cert["categories"].values() for t in s["tests"] if t["outcome"] == "failed"
        ]
        for test in failures[:20]:
            click.echo(f"FAILED {test['nodeid']}: {test['reason']}", err=True)
        for error in cert["errors"]:
            click.echo(f"ERROR {error}", err=True)


@click.group()
def main() -> None:
    """osk-conformance commands (also available as `osk certify` once the core CLI loads)."""


main.add_command(certify)
