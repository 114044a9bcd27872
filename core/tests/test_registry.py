"""The registry: discovery through entry points, isolation of broken plugins, conflicts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import optuna_storage_kit as osk
from optuna_storage_kit.runtime.extras import KNOWN_SCHEMES

GOOD_PLUGIN = """
import optuna_storage_kit as osk

def _open(url, options):
    return osk.open_storage("optuna+memory://").inner

@osk.hookimpl
def register_backends(register):
    register(osk.Backend(name="{name}", schemes=("{scheme}",), version="2.0",
                         spec_version=osk.SPEC_VERSION, open=_open,
                         capabilities=osk.Capabilities(thread_safe=True)))
"""

Install = Callable[[str, str, str], None]


def good(name: str, scheme: str) -> str:
    return GOOD_PLUGIN.format(name=name, scheme=scheme)


def test_builtin_memory_backend_is_discovered_through_its_entry_point() -> None:
    registry = osk.Registry()
    backend = registry.backend_for("memory")
    assert backend.name == "memory"
    assert registry.distribution_of(backend) == "optuna-storage-kit"
    assert backend.capabilities.claimed() == ("thread_safe", "heartbeat", "large_steps")


def test_entry_points_are_loaded_lazily(installed_plugins: Install) -> None:
    registry = osk.Registry()  # created before the plugin is installed
    installed_plugins("osk-lazy", "lazy", good("lazy", "lazy"))
    assert registry.backend_for("lazy").version == "2.0"


def test_third_party_plugin_opens_through_open_storage(installed_plugins: Install) -> None:
    installed_plugins("osk-thirdparty", "thirdparty", good("thirdparty", "thirdparty"))
    from optuna_storage_kit.runtime.open import open_with

    storage = open_with(osk.Registry(), "optuna+thirdparty://", {})
    assert storage.backend_name == "thirdparty"
    assert storage.create_new_study([osk_direction()]) == 0


def osk_direction() -> object:
    from optuna.study import StudyDirection

    return StudyDirection.MINIMIZE


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (
            "import no_such_module_xyz\n",
            "ModuleNotFoundError: No module named 'no_such_module_xyz'",
        ),
        (
            "import optuna_storage_kit as osk\n"
            "@osk.hookimpl\n"
            "def register_backends(register):\n"
            "    raise RuntimeError('driver missing')\n",
            "RuntimeError: driver missing",
        ),
        (
            "import optuna_storage_kit as osk\n"
            "@osk.hookimpl\n"
            "def register_backendz(register):\n"
            "    pass\n",
            "unknown hook 'register_backendz'",
        ),
        (
            "import optuna_storage_kit as osk\n"
            "@osk.hookimpl\n"
            "def register_backends(register, extra_argument):\n"
            "    pass\n",
            "extra_argument",
        ),
        (
            good("future", "future").replace("spec_version=osk.SPEC_VERSION", "spec_version=99"),
            "implements spec version 99, but this optuna-storage-kit implements spec versions"
            " 1 to 2; upgrade optuna-storage-kit",
        ),
        (
            good("old", "old").replace("spec_version=osk.SPEC_VERSION", "spec_version=0"),
            "upgrade the plugin to a release built for spec 1 to 2",
        ),
        (good("Bad Name", "bad"), "name 'Bad Name' must match"),
        (good("badscheme", "optuna+x"), "scheme 'optuna+x' must match"),
        (good("dashed", "my-db"), "scheme 'my-db' must match"),
        (
            "import optuna_storage_kit as osk\n"
            "@osk.hookimpl\n"
            "def register_backends(register):\n"
            "    register('sqlite')\n",
            "registered str, not an optuna_storage_kit.Backend",
        ),
    ],
    ids=[
        "import-error",
        "hook-raises",
        "misspelt-hook",
        "bad-hook-signature",
        "newer-spec",
        "older-spec",
        "invalid-name",
        "invalid-scheme",
        "unparsable-scheme",
        "not-a-backend",
    ],
)
def test_broken_plugin_is_listed_and_others_still_work(
    installed_plugins: Install, source: str, needle: str
) -> None:
    installed_plugins("osk-broken", "broken", source)
    installed_plugins("osk-fine", "fine", good("fine", "fine"))
    registry = osk.Registry()

    assert registry.backend_for("fine").name == "fine"
    assert registry.backend_for("memory").name == "memory"
    [broken] = registry.broken()
    assert broken.name == "broken"
    assert broken.distribution == "osk-broken"
    assert needle in broken.error
    with pytest.raises(osk.PluginError) as info:
        registry.load(strict=True)
    assert needle in str(info.value)


def test_missing_scheme_names_installed_schemes_and_broken_plugins(
    installed_plugins: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first-party scheme whose package is not installed (ours all are, in this workspace).
    monkeypatch.setitem(KNOWN_SCHEMES, "fakedb", ("osk-fakedb", "fakedb"))
    installed_plugins("osk-broken", "broken", "raise ImportError('boom')\n")
    with pytest.raises(osk.NoSuchBackendError) as info:
        osk.Registry().backend_for("fakedb")
    message = str(info.value)
    assert "Installed: " in message and "optuna+memory://" in message
    assert 'pip install "optuna-storage-kit[fakedb]"' in message
    assert "plugins that failed to load: broken" in message


def test_unknown_third_party_scheme_suggests_checking_spelling() -> None:
    with pytest.raises(osk.NoSuchBackendError, match="check the spelling"):
        osk.Registry().backend_for("memroy")


def test_known_scheme_whose_distribution_is_broken(installed_plugins: Install) -> None:
    installed_plugins("osk-postgres", "postgres", "import asyncpg_not_installed_xyz\n")
    with pytest.raises(osk.BackendUnavailableError) as info:
        osk.Registry().backend_for("postgresql")
    message = str(info.value)
    assert "comes from osk-postgres, which failed to load" in message
    assert "asyncpg_not_installed_xyz" in message
    assert 'pip install --force-reinstall "optuna-storage-kit[postgres]"' in message


def test_two_plugins_claiming_one_scheme_is_an_error_naming_both(
    installed_plugins: Install,
) -> None:
    installed_plugins("osk-alpha", "alpha", good("alpha", "shared"))
    installed_plugins("osk-beta", "beta", good("beta", "shared"))
    installed_plugins("osk-fine", "fine", good("fine", "fine"))
    registry = osk.Registry()
    with pytest.raises(osk.DuplicateSchemeError) as info:
        registry.backend_for("shared")
    message = str(info.value)
    assert "'alpha' (osk-alpha)" in message and "'beta' (osk-beta)" in message
    assert registry.conflicts() == {"shared": ["alpha", "beta"]}
    assert registry.backend_for("fine").name == "fine"  # unaffected
    with pytest.raises(osk.PluginError, match="claimed by"):
        registry.load(strict=True)


def test_direct_registration(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    registry.register_backend(make_backend("one", ("one", "uno")))
    assert registry.backend_for("uno").name == "one"
    assert registry.schemes() == ["one", "uno"]
    with pytest.raises(osk.DuplicateSchemeError, match="claimed by both backend 'one'"):
        registry.register_backend(make_backend("two", ("uno",)))
    registry.register_backend(make_backend("two", ("uno",)), replace=True)
    assert registry.backend_for("uno").name == "two"
    with pytest.raises(osk.NoSuchBackendError):
        registry.backend_for("one")  # replaced wholesale
    registry.unregister_backend("two")
    assert registry.backends() == []


def test_direct_registration_rejects_invalid_and_incompatible(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    with pytest.raises(osk.IncompatiblePluginError, match="spec version 7"):
        registry.register_backend(make_backend(spec_version=7))
    with pytest.raises(osk.PluginError, match="declares no URL scheme"):
        registry.register_backend(make_backend(schemes=()))
    duplicate_option = osk.Option("heartbeat_interval", int)
    with pytest.raises(osk.PluginError, match="options declared twice: heartbeat_interval"):
        registry.register_backend(
            make_backend(
                capabilities=osk.Capabilities(heartbeat=True), options=(duplicate_option,)
            )
        )
    assert registry.backends() == []


def test_register_plugin_object(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    class Plugin:
        @osk.hookimpl
        def register_backends(self, register: Callable[[osk.Backend], None]) -> None:
            register(make_backend("a", ("a",)))
            register(make_backend("b", ("b",)))

    registry.register_plugin(Plugin(), name="two-backends")
    assert [b.name for b in registry.backends()] == ["a", "b"]

    class Failing:
        @osk.hookimpl
        def register_backends(self, register: Callable[[osk.Backend], None]) -> None:
            raise RuntimeError("nope")

    with pytest.raises(osk.PluginError, match="plugin 'failing' failed: RuntimeError: nope"):
        registry.register_plugin(Failing(), name="failing")
    assert [b.name for b in registry.backends()] == ["a", "b"]


def test_same_backend_name_from_two_plugins(installed_plugins: Install) -> None:
    installed_plugins("osk-alpha", "alpha", good("same", "x1"))
    installed_plugins("osk-beta", "beta", good("same", "x2"))
    registry = osk.Registry()
    assert [b.name for b in registry.backends()].count("same") == 1
    [broken] = registry.broken()
    assert "registered by both" in broken.error


SPEC_1_PLUGIN = """
import optuna_storage_kit as osk

def _open(url, options):
    return osk.open_storage("optuna+memory://").inner

@osk.hookimpl
def register_backends(register):  # written for spec 1: no new fields, no new hook arguments
    register(osk.Backend(name="old", schemes=("old",), version="1.0", spec_version=1,
                         open=_open, capabilities=osk.Capabilities(thread_safe=True)))
"""


def test_a_spec_1_plugin_loads_in_a_spec_2_core(installed_plugins: Install) -> None:
    assert osk.SPEC_VERSION == 2
    installed_plugins("osk-old", "old", SPEC_1_PLUGIN)
    registry = osk.Registry()
    backend = registry.backend_for("old")
    assert backend.spec_version == 1
    assert registry.broken() == []
    # The spec-2 defaults apply: claims do not depend on options, writes are visible at once.
    assert backend.claims({}) == backend.capabilities
    assert backend.visibility_delay({}) == 0.0


def test_a_deprecated_spec_version_loads_with_a_warning(
    installed_plugins: Install, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(osk.hookspecs, "DEPRECATED_SPEC_VERSIONS", frozenset({1}))
    installed_plugins("osk-old", "old", SPEC_1_PLUGIN)
    registry = osk.Registry()
    with pytest.warns(DeprecationWarning, match="spec version 1, which is deprecated"):
        assert registry.backend_for("old").name == "old"


@pytest.mark.parametrize(
    ("claims", "needle"),
    [
        ({"write_through": True, "durable": True}, "durable capability implies persistent"),
        ({"write_through": True, "persistent": True}, "write_through capability implies durable"),
        ({"multi_host": True}, "multi_host capability implies multi_process"),
        ({"read_only": True}, "read_only capability implies persistent"),
    ],
)
def test_capability_implications_are_checked_when_built(
    claims: dict[str, bool], needle: str
) -> None:
    with pytest.raises(ValueError, match=needle):
        osk.Capabilities(**claims)


def test_claims_and_visibility_may_depend_on_options(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    base = osk.Capabilities(persistent=True, durable=True)
    strong = osk.Capabilities(persistent=True, durable=True, write_through=True)
    backend = make_backend(
        capabilities=base,
        options=(osk.Option("write_behind", bool, True, "Buffer running trials' writes."),),
        capabilities_for=lambda options: base if options["write_behind"] else strong,
        visibility_delay_s=lambda options: 1.0 if options["write_behind"] else 0.0,
    )
    registry.register_backend(backend)
    from optuna_storage_kit.runtime.open import open_with

    default = open_with(registry, "optuna+fake://", {})
    assert default.capabilities == base and default.visibility_delay_s == 1.0
    variant = open_with(registry, "optuna+fake://?write_behind=false", {})
    assert variant.capabilities == strong and variant.visibility_delay_s == 0.0


def test_capabilities_for_must_return_capabilities(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    registry.register_backend(make_backend(capabilities_for=lambda options: "durable"))
    from optuna_storage_kit.runtime.open import open_with

    with pytest.raises(osk.PluginError, match="capabilities_for\\(\\) returned str"):
        open_with(registry, "optuna+fake://", {})


def test_invalid_visibility_delay_is_reported(make_backend: Callable[..., osk.Backend]) -> None:
    assert any(
        "visibility_delay_s -1 must be a number >= 0" in p
        for p in make_backend(visibility_delay_s=-1).problems()
    )


def test_read_only_storage_refuses_every_write(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    shared = osk.open_storage("optuna+memory://ro-test").inner
    study_id = shared.create_new_study([StudyDirection.MINIMIZE], "s")
    trial_id = shared.create_new_trial(study_id)
    backend = make_backend(
        capabilities=osk.Capabilities(persistent=True, read_only=True),
        open=lambda url, options: shared,
    )
    assert "mode" in {o.name for o in backend.all_options}
    registry.register_backend(backend)
    from optuna_storage_kit.runtime.open import open_with

    storage = open_with(registry, "optuna+fake://?mode=ro", {})
    assert storage.read_only
    writes: list[Callable[[], object]] = [
        lambda: storage.create_new_study([StudyDirection.MINIMIZE]),
        lambda: storage.delete_study(study_id),
        lambda: storage.set_study_user_attr(study_id, "k", 1),
        lambda: storage.set_study_system_attr(study_id, "k", 1),
        lambda: storage.create_new_trial(study_id),
        lambda: storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0]),
        lambda: storage.set_trial_intermediate_value(trial_id, 1, 1.0),
        lambda: storage.set_trial_user_attr(trial_id, "k", 1),
        lambda: storage.set_trial_system_attr(trial_id, "k", 1),
        lambda: storage.record_heartbeat(trial_id),
    ]
    for write in writes:
        with pytest.raises(osk.ReadOnlyStorageError, match="opened read-only \\(mode=ro\\)"):
            write()
    assert storage.get_trial(trial_id).state == TrialState.RUNNING
    assert storage.get_study_user_attrs(study_id) == {}
    assert not open_with(registry, "optuna+fake://", {}).read_only


def test_capabilities_helpers() -> None:
    caps = osk.Capabilities.of(["durable", "persistent"])
    assert caps.claimed() == ("persistent", "durable")
    assert osk.Capabilities().claimed() == ()
    assert "heartbeat" in osk.Capabilities.names()
    with pytest.raises(ValueError, match="unknown capabilities \\['fast'\\]"):
        osk.Capabilities.of(["fast"])


def test_backend_returning_non_storage_is_reported(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    registry.register_backend(make_backend(open=lambda url, options: object()))
    from optuna_storage_kit.runtime.open import open_with

    with pytest.raises(osk.PluginError, match=r"not an optuna\.storages\.BaseStorage"):
        open_with(registry, "optuna+fake://", {})


def test_driver_error_carrying_the_password_is_scrubbed(
    registry: osk.Registry, make_backend: Callable[..., osk.Backend]
) -> None:
    def open_leaky(url: osk.StorageURL, options: object) -> object:
        raise ConnectionError(f"could not connect to {url.render(hide_password=False)}")

    registry.register_backend(make_backend(open=open_leaky))
    from optuna_storage_kit.runtime.open import open_with

    with pytest.raises(osk.StorageKitError) as info:
        open_with(registry, "optuna+fake://alice:hunter2@db/x", {})
    assert "hunter2" not in str(info.value)
    assert "alice:***@db" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
