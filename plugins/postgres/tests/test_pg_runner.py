"""``CallerLoop``: callers run the loop themselves; guests are served; nothing waits forever."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from osk_postgres._runner import CallerLoop


async def _whose_thread() -> int:
    return threading.get_ident()


def test_the_caller_runs_its_coroutine_in_its_own_thread() -> None:
    runner = CallerLoop()
    assert runner.run(_whose_thread()) == threading.get_ident()
    assert runner.calls == 1
    runner.close()
    assert runner.loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run(_whose_thread())


def test_guests_are_served_while_the_driver_still_waits() -> None:
    runner = CallerLoop()
    started, guests_done = threading.Event(), threading.Event()

    async def driver_call() -> str:
        started.set()
        for _ in range(1000):  # returns only once every guest has returned (10 s at most)
            if guests_done.is_set():
                return "guests served meanwhile"
            await asyncio.sleep(0.01)
        return "guests waited for the driver"

    async def guest_call(i: int) -> int:
        await asyncio.sleep(0.01)
        return i

    results: list[object] = []
    driver = threading.Thread(target=lambda: results.append(runner.run(driver_call())))
    driver.start()
    assert started.wait(10)
    guests = [
        threading.Thread(target=lambda i=i: results.append(runner.run(guest_call(i))))
        for i in range(4)
    ]
    for g in guests:
        g.start()
    for g in guests:
        g.join(30)
    guests_done.set()
    driver.join(30)
    assert sorted(map(str, results)) == ["0", "1", "2", "3", "guests served meanwhile"]
    runner.close()


def test_a_guest_runs_the_loop_itself_when_its_driver_leaves() -> None:
    runner = CallerLoop()
    holding, release = threading.Event(), threading.Event()

    async def held() -> None:
        holding.set()
        while not release.is_set():
            await asyncio.sleep(0.01)
        raise KeyboardInterrupt  # the driver leaves as Ctrl-C makes it leave

    driver_error: list[BaseException] = []

    def drive() -> None:
        try:
            runner.run(held())
        except BaseException as err:
            driver_error.append(err)

    driver = threading.Thread(target=drive)
    driver.start()
    assert holding.wait(10)
    out: list[int] = []
    guest = threading.Thread(target=lambda: out.append(runner.run(_whose_thread())))
    guest.start()
    deadline = time.monotonic() + 10
    while runner._guests == 0 and time.monotonic() < deadline:  # it waits as a guest
        time.sleep(0.01)
    release.set()
    driver.join(10)
    guest.join(10)
    assert not guest.is_alive() and len(out) == 1
    assert isinstance(driver_error[0], KeyboardInterrupt)
    runner.close()


def test_close_during_another_threads_call_closes_when_it_ends() -> None:
    runner = CallerLoop()
    started, closed = threading.Event(), threading.Event()

    async def call() -> int:
        started.set()
        while not closed.is_set():
            await asyncio.sleep(0.01)
        return 1

    t = threading.Thread(target=lambda: runner.run(call()))
    t.start()
    assert started.wait(10)
    runner.close()
    assert not runner.loop.is_closed()  # the call still runs on it
    closed.set()
    t.join(30)
    assert runner.loop.is_closed()


def test_a_coroutine_of_the_loop_may_not_block_on_it() -> None:
    runner = CallerLoop()

    async def reentrant() -> None:
        runner.run(_whose_thread())

    with pytest.raises(RuntimeError, match="its own event loop"):
        runner.run(reentrant())
    runner.close()


def test_a_call_from_inside_another_running_loop_runs_on_a_helper_thread() -> None:
    runner = CallerLoop()

    async def jupyter_cell() -> int:
        return runner.run(_whose_thread())

    assert asyncio.run(jupyter_cell()) != threading.get_ident()
    runner.close()
