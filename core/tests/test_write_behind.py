"""The write-behind rule's options and claims, shared by every buffering backend."""

from __future__ import annotations

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit.toolkit import write_behind

BUFFERED = osk.Capabilities(thread_safe=True, multi_process=True, persistent=True, durable=True)


def test_options_are_named_and_resolved_alike() -> None:
    declared = write_behind.options(cost="2 commits per trial", flush_interval=0.5)
    assert [o.name for o in declared] == ["write_behind", "flush_interval"]
    assert "2 commits per trial" in declared[0].help
    resolve = osk.resolve_options
    default = resolve(declared, {}, {}, backend="b", heartbeat_supported=False)
    assert default == {"write_behind": True, "flush_interval": 0.5}
    query = resolve(
        declared, {"write_behind": "false"}, {}, backend="b", heartbeat_supported=False
    )
    assert query["write_behind"] is False
    with pytest.raises(osk.InvalidOptionError, match="flush_interval"):
        resolve(declared, {"flush_interval": "0"}, {}, backend="b", heartbeat_supported=False)


def test_writing_through_claims_write_through_and_no_delay() -> None:
    claims = write_behind.capabilities_for(BUFFERED)
    assert claims({"write_behind": True, "flush_interval": 1.0}) is BUFFERED
    through = claims({"write_behind": False, "flush_interval": 1.0})
    assert through.write_through and not BUFFERED.write_through
    assert {**vars(through), "write_through": False} == vars(BUFFERED)
    assert write_behind.visibility_delay_s({"write_behind": True, "flush_interval": 0.25}) == 0.25
    assert write_behind.visibility_delay_s({"write_behind": False, "flush_interval": 0.25}) == 0


def test_backends_that_buffer_declare_the_shared_options() -> None:
    buffering = [
        b
        for b in osk.get_registry().backends()
        if any(o.name == write_behind.WRITE_BEHIND for o in b.options)
    ]
    assert {b.name for b in buffering} >= {"sqlite-rust", "postgres"}
    shared = write_behind.options(cost="")
    for backend in buffering:
        mine = {o.name: o for o in backend.options}
        for option in shared:
            assert mine[option.name].type is option.type, backend.name
            assert mine[option.name].default == option.default, backend.name
