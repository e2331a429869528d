"""DrawPool (services/router/draws.py): learning's Thompson draws fetched a
batch at a time and spent one per request, on a manual clock with a scripted
source."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.router.draws import MIN_DRAWS, DrawBatch, DrawPool
from switchboard.runtime.clock import ManualClock


class Source:
    """Numbers its draws (["d<n>", ...]) so a test can tell which one a request got."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, tuple[str, ...], int]] = []
        self.deadlines: list[float | None] = []
        self.made = 0
        self.gate: asyncio.Event | None = None  # when set, fetches wait for it
        self.fail_with = ""  # non-empty: answer no draws, with this reason
        self.raises: Exception | None = None

    async def draws(self, *, tenant: str, user_id: str, topic: str, candidates: Sequence[str], count: int,
                    request_id: str, deadline_s: float | None = None) -> DrawBatch:
        self.asked.append((tenant, user_id, topic, tuple(candidates), count))
        self.deadlines.append(deadline_s)
        if self.gate is not None:
            await self.gate.wait()
        if self.raises is not None:
            raise self.raises
        if self.fail_with:
            return DrawBatch([], self.fail_with)
        out = []
        for _ in range(count):
            self.made += 1
            out.append([f"d{self.made}", *candidates])
        return DrawBatch(out)


async def ask(pool: DrawPool, user: str = "u", topic: str = "code", candidates: Sequence[str] = ("a", "b"),
              tenant: str = "") -> str | None:
    rec = await pool.recommend(user_id=user, topic=topic, candidates=list(candidates), request_id="r", tenant=tenant)
    return rec.order[0] if rec.order else None


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_each_request_spends_its_own_draw_from_one_fetch(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    got = [await ask(pool) for _ in range(3)]
    assert got == ["d1", "d2", "d3"]  # in order, none twice
    assert len(source.asked) == 1 and source.asked[0] == ("", "u", "code", ("a", "b"), MIN_DRAWS)
    assert pool.fetches == 1 and pool.served == 3
    await pool.close()


async def test_keys_are_tenant_user_topic_and_candidates(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    await ask(pool)
    await ask(pool, tenant="acme")
    await ask(pool, user="v")
    await ask(pool, topic="math")
    await ask(pool, candidates=("b",))  # a breaker opened: another key, so no draw names a closed-off backend
    assert [a[:4] for a in source.asked] == [
        ("", "u", "code", ("a", "b")),
        ("acme", "u", "code", ("a", "b")),
        ("", "v", "code", ("a", "b")),
        ("", "u", "math", ("a", "b")),
        ("", "u", "code", ("b",)),
    ]
    await pool.close()


async def test_stale_draws_are_not_used(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    assert await ask(pool) == "d1"
    clock.advance(1.0)
    assert await ask(pool) == f"d{MIN_DRAWS + 1}"  # the old batch's d2.. are past their age: a fresh fetch
    assert len(source.asked) == 2
    await pool.close()


async def test_refilled_in_the_background_before_running_out(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    await ask(pool)  # fetch of MIN_DRAWS (4): d1 spent, d2-d4 kept
    source.gate = asyncio.Event()
    assert await ask(pool) == "d2"
    assert await ask(pool) == "d3"  # a quarter left: a refill starts, but nobody waits for it
    await settle()
    assert len(source.asked) == 2
    assert await ask(pool) == "d4"  # still from the old batch while the refill is out
    source.gate.set()
    await settle()
    assert await ask(pool) == "d5"  # the refill's first draw
    assert len(source.asked) == 2  # and no request fetched for itself
    await pool.close()


async def test_half_way_through_its_life_a_batch_is_refreshed(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    await ask(pool)
    clock.advance(0.6)
    assert await ask(pool) == "d2"  # still fresh enough to use, old enough to refresh
    await settle()
    assert len(source.asked) == 2
    assert await ask(pool) == f"d{MIN_DRAWS + 1}"  # the fresher batch replaced what was left
    await pool.close()


async def test_the_batch_follows_the_keys_demand(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    for _ in range(60):  # 40/s: ~40 wanted per max age, capped at 32
        await ask(pool)
        clock.advance(0.025)
        await settle()
    counts = [a[4] for a in source.asked]
    assert counts[0] == MIN_DRAWS and counts == sorted(counts) and counts[-1] == 32  # grows with what is used
    assert len(source.asked) < 15  # for 60 requests
    quiet = DrawPool(Source(), clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    await ask(quiet)
    clock.advance(0.9)
    await ask(quiet)  # 2 uses in 0.9 s
    await settle()
    assert quiet._source.asked[-1][4] == MIN_DRAWS  # type: ignore[attr-defined]  # noqa: SLF001
    await pool.close()
    await quiet.close()


async def test_learning_unavailable_means_static_order_and_no_call_for_a_while(clock: ManualClock) -> None:
    source = Source()
    source.fail_with = "learning: UNAVAILABLE; static order"
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    rec = await pool.recommend(user_id="u", topic="code", candidates=["a", "b"], request_id="r")
    assert rec.order is None and rec.degraded_reason == "learning: UNAVAILABLE; static order"
    source.fail_with = ""
    for _ in range(50):  # a struggling learning is not asked again at once, let alone per request
        again = await pool.recommend(user_id="u", topic="code", candidates=["a", "b"], request_id="r")
        assert again.order is None and again.degraded_reason == "learning: UNAVAILABLE; static order"
    assert len(source.asked) == 1
    clock.advance(1.0)
    assert await ask(pool) == "d1"  # after a max age it is asked again
    await pool.close()


async def test_a_burst_on_a_cold_key_makes_one_call_at_a_time(clock: ManualClock) -> None:
    source = Source()
    source.gate = asyncio.Event()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    burst = [asyncio.create_task(ask(pool)) for _ in range(50)]
    await settle()
    assert len(source.asked) == 1  # everyone waits for the one fetch
    source.gate.set()
    got = await asyncio.gather(*burst)
    assert None not in got and len(set(got)) == 50  # each request its own draw
    assert len(source.asked) <= 3  # the later fetches are sized for the requests still waiting
    assert [a[4] for a in source.asked][1] == 32
    await pool.close()


async def test_a_caller_that_stops_waiting_leaves_the_fetch_to_the_next(clock: ManualClock) -> None:
    source = Source()
    source.gate = asyncio.Event()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    first = asyncio.create_task(ask(pool))
    await settle()
    first.cancel()  # e.g. the cache answered the request
    with pytest.raises(asyncio.CancelledError):
        await first
    source.gate.set()
    await settle()
    assert await ask(pool) == "d1" and len(source.asked) == 1  # the fetch finished and was kept
    await pool.close()


async def test_a_fetch_cancelled_at_shutdown_gives_waiters_the_static_order(clock: ManualClock) -> None:
    source = Source()
    source.gate = asyncio.Event()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    waiting = asyncio.create_task(pool.recommend(user_id="u", topic="t", candidates=["a"], request_id="r"))
    await settle()
    await pool.close()
    rec = await waiting
    assert rec.order is None and "cancelled" in rec.degraded_reason


async def test_refills_have_a_longer_deadline_than_requests(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    for _ in range(4):
        await ask(pool)
        await settle()
    assert source.deadlines[0] is None  # a request waits: the client's own (short) deadline
    assert source.deadlines[1] == 0.25  # nobody waits for a refill: a quarter of the max age
    await pool.close()


async def test_a_failed_refill_keeps_the_old_draws_until_stale(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    await ask(pool)
    source.raises = RuntimeError("boom")
    assert await ask(pool) == "d2"
    assert await ask(pool) == "d3"  # starts a refill, which fails
    await settle()
    assert await ask(pool) == "d4"  # what is left is still spent
    assert len(source.asked) == 2  # and no refill is retried at once
    source.raises = None
    clock.advance(1.0)
    assert await ask(pool) == "d5"  # stale: fetched afresh
    await pool.close()


async def test_keys_are_bounded_least_recently_used_first(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=60.0, wait_s=5.0, max_keys=2)
    await ask(pool, user="x")
    await ask(pool, user="y")
    await ask(pool, user="x")  # from memory: x is now the most recently used
    await ask(pool, user="z")  # evicts y
    assert len(source.asked) == 3
    await ask(pool, user="x")
    await ask(pool, user="y")
    # x: its third draw of four starts a refill; y: evicted, so asked again.
    assert [a[1] for a in source.asked] == ["x", "y", "z", "x", "y"]
    await pool.close()


async def test_close_cancels_a_refill_in_flight(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=5.0)
    await ask(pool)
    source.gate = asyncio.Event()
    await ask(pool)
    await ask(pool)  # refill now waits on the gate
    await settle()
    await asyncio.wait_for(pool.close(), 1.0)


async def test_a_batch_is_never_larger_than_max_draws(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=2, max_age_s=1.0, wait_s=5.0)
    await ask(pool)
    assert source.asked[0][4] == 2
    await pool.close()


async def test_a_request_waits_no_longer_than_its_deadline_for_a_slow_refill(clock: ManualClock) -> None:
    source = Source()
    pool = DrawPool(source, clock, max_draws=32, max_age_s=1.0, wait_s=0.05)
    await ask(pool)
    clock.advance(0.6)
    source.gate = asyncio.Event()  # learning is slow from now on
    assert await ask(pool) == "d2"  # half its age: a refill starts, with its longer deadline
    clock.advance(0.5)  # the rest goes stale while the refill is still out
    rec = await pool.recommend(user_id="u", topic="code", candidates=["a", "b"], request_id="r")
    assert rec.order is None and rec.degraded_reason == "learning: no recommendation within 50 ms; static order"
    source.gate.set()
    await settle()
    assert await ask(pool) == f"d{MIN_DRAWS + 1}"  # the refill was not given up: its batch is kept
    assert len(source.asked) == 2
    await pool.close()


def test_bad_limits_are_refused(clock: ManualClock) -> None:
    with pytest.raises(ValueError):
        DrawPool(Source(), clock, max_draws=0, max_age_s=1.0, wait_s=5.0)
    with pytest.raises(ValueError):
        DrawPool(Source(), clock, max_draws=4, max_age_s=0, wait_s=1.0)
    with pytest.raises(ValueError):
        DrawPool(Source(), clock, max_draws=4, max_age_s=1.0, wait_s=0)
