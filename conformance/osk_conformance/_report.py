"""The certificate: JSON for machines, Markdown for people (JUnit XML comes from pytest)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

from osk_conformance._certify import CATEGORIES, Collector, versions
from osk_conformance._target import Target

__all__ = ["build_certificate", "write_certificate"]

CERTIFICATE_VERSION = 1


def build_certificate(
    target: Target,
    collector: Collector,
    *,
    quick: bool,
    categories: list[str],
    exit_code: int,
    seed: int | None = None,
    select: str | None = None,
) -> dict[str, Any]:
    """Assemble the certificate of one run."""
    sections: dict[str, Any] = {}
    for name in CATEGORIES:
        if name not in categories:
            sections[name] = {"title": CATEGORIES[name], "status": "not run", "tests": []}
            continue
        tests = [o for o in collector.outcomes.values() if o.category == name]
        counts = {k: sum(o.outcome == k for o in tests) for k in ("passed", "failed", "skipped")}
        status = "fail" if counts["failed"] else ("pass" if counts["passed"] else "skip")
        sections[name] = {
            "title": CATEGORIES[name],
            "status": status,
            **counts,
            "tests": [dataclasses.asdict(o) | {"seconds": round(o.seconds, 3)} for o in tests],
        }
    failed = any(s["status"] == "fail" for s in sections.values())
    passed = exit_code == 0 and not failed and not collector.errors
    return {
        "certificate_version": CERTIFICATE_VERSION,
        "result": "pass" if passed else "fail",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": {
            "name": target.name,
            "version": target.version,
            "under_test": target.source,
            "kind": target.kind,
            "shared_store": target.shared,
            "capabilities": dataclasses.asdict(target.capabilities),
            "thresholds": dict(target.thresholds),
        },
        "versions": versions(),
        "mode": _mode(quick, select),
        "seed": seed,
        "selection": select,
        "categories": sections,
        "performance": {"figures": collector.figures.get(target.label, {})},
        "errors": collector.errors,
        "pytest_exit_code": exit_code,
    }


def _mode(quick: bool, select: str | None) -> str:
    mode = "quick (scaled-down workloads and fewer examples)" if quick else "full"
    return f"{mode}; only the tests matching -k {select!r}" if select else mode


def write_certificate(certificate: dict[str, Any], out: Path) -> list[Path]:
    """Write ``certificate.json`` and ``certificate.md`` under ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "certificate.json"
    json_path.write_text(json.dumps(certificate, indent=2, default=str) + "\n")
    md_path = out / "certificate.md"
    md_path.write_text(markdown(certificate))
    return [json_path, md_path, out / "certificate.junit.xml"]


def _replay(cert: dict[str, Any]) -> str:
    """The command that runs this certification again with the same seed."""
    backend = cert["backend"]
    target = f"'{backend['under_test']}'"
    if backend["kind"] == "factory":
        target = f"--factory {target}"
    quick = " --quick" if cert["mode"].startswith("quick") else ""
    select = f" -k '{cert['selection']}'" if cert.get("selection") else ""
    return f"osk certify {target}{quick}{select} --seed {cert.get('seed')}"


def markdown(cert: dict[str, Any]) -> str:
    """A summary a person can read."""
    backend, versions_ = cert["backend"], cert["versions"]
    claimed = [k for k, v in backend["capabilities"].items() if v] or ["none"]
    lines = [
        f"# Conformance certificate: {backend['name']} {backend['version']}",
        "",
        f"**Result: {cert['result'].upper()}** ({cert['mode']}), {cert['created']}",
        "",
        f"- Under test: `{backend['under_test']}` ({backend['kind']})",
        f"- Seed: {cert.get('seed')} (the kill points and model sequences; replay: "
        f"`{_replay(cert)}`)",
        f"- Claimed capabilities: {', '.join(claimed)}",
        f"- Versions: spec {versions_['spec_version']}, optuna-storage-kit "
        f"{versions_['optuna_storage_kit']}, osk-conformance {versions_['osk_conformance']}, "
        f"Optuna {versions_['optuna']}, Python {versions_['python']} ({versions_['platform']})",
        "",
        "| Category | Status | Passed | Failed | Skipped |",
        "|---|---|---|---|---|",
    ]
    for section in cert["categories"].values():
        lines.append(
            f"| {section['title']} | {section['status']} | {section.get('passed', '-')} | "
            f"{section.get('failed', '-')} | {section.get('skipped', '-')} |"
        )
    failures = [
        (n, t)
        for n, s in cert["categories"].items()
        for t in s["tests"]
        if t["outcome"] == "failed"
    ]
    if failures or cert["errors"]:
        lines += ["", "## Failures", ""]
        lines += [f"- **{n}** `{t['nodeid']}`: {t['reason']}" for n, t in failures]
        lines += [f"- {e}" for e in cert["errors"]]
    skips: dict[str, list[str]] = {}
    for name, section in cert["categories"].items():
        for test in section["tests"]:
            if test["outcome"] == "skipped":
                skips.setdefault(f"{name}: {test['reason']}", []).append(test["nodeid"])
    if skips:
        lines += ["", "## Skipped (not tested, with the reason)", ""]
        lines += [
            f"- {reason} ({len(ids)} test{'s' * (len(ids) > 1)})" for reason, ids in skips.items()
        ]
    figures = cert["performance"]["figures"]
    if figures:
        lines += ["", "## Performance (ratio = time / reference backend's time, same run)", ""]
        lines += [
            "| Workload | Trials | Ratio | Seconds | Reference s | Counts per trial |",
            "|---|---|---|---|---|---|",
        ]
        for workload, f in figures.items():
            counts = ", ".join(f"{k} {v}" for k, v in f.items() if k.endswith("_per_trial"))
            lines.append(
                f"| {workload} | {f['trials']} | {f['ratio']} | {f['seconds']} | "
                f"{f['reference_seconds']} | {counts or '-'} |"
            )
    return "\n".join(lines) + "\n"
