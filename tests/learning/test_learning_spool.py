"""The local spool file: fsync'd appends, recovery after a crash (torn last
line, leftover segments), sealing and removal."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.learning.records import InteractionRecord, Outcome
from services.learning.spool import CURRENT, Spool, SpoolEntry, SpoolLocked
from learning_support import T0


def entry(iid: str) -> SpoolEntry:
    record = InteractionRecord(
        tenant="default", interaction_id=iid, backend="alpha", outcome=Outcome.SUCCESS, occurred_at=T0,
        user_id="alice", total_time_s=1.5,
    )
    return SpoolEntry("interaction", T0, interaction=record)


async def test_appended_entries_survive_a_new_process(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.open() == []
    await spool.append([entry("a"), entry("b")])
    await spool.append([entry("c")])
    assert len(spool) == 3 and spool.pending("interaction", ("default", "b")) is not None
    spool.close()  # a crash: nothing else happens

    reopened = Spool(tmp_path)
    recovered = reopened.open()
    assert [e.interaction.interaction_id for e in recovered] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert recovered[0].interaction == entry("a").interaction
    assert recovered[0].accepted_at == T0
    reopened.close()


async def test_a_torn_last_line_is_cut_and_later_appends_stay_readable(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    await spool.append([entry("a")])
    spool.close()
    with open(tmp_path / CURRENT, "ab") as fh:  # the process died in the middle of a write
        fh.write(entry("torn").to_line()[:25])

    reopened = Spool(tmp_path)
    assert [e.interaction.interaction_id for e in reopened.open()] == ["a"]  # type: ignore[union-attr]
    await reopened.append([entry("b")])
    reopened.close()
    again = Spool(tmp_path)
    assert sorted(e.interaction.interaction_id for e in again.open()) == ["a", "b"]  # type: ignore[union-attr]
    again.close()


async def test_an_unreadable_line_in_the_middle_does_not_lose_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    await spool.append([entry("a")])
    spool.close()
    with open(tmp_path / CURRENT, "ab") as fh:
        fh.write(b"{not json}\n")
        fh.write(entry("b").to_line())
    reopened = Spool(tmp_path)
    assert [e.interaction.interaction_id for e in reopened.open()] == ["a", "b"]  # type: ignore[union-attr]
    reopened.close()


async def test_seal_and_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    await spool.append([entry("a"), entry("b")])
    sealed = await spool.seal()
    assert len(sealed) == 1 and [e.interaction.interaction_id for e in sealed[0][1]] == ["a", "b"]  # type: ignore[union-attr]
    await spool.append([entry("c")])  # appends continue into a fresh current segment
    assert len(spool) == 3
    await spool.remove(sealed[0][0])
    assert len(spool) == 1 and spool.pending("interaction", ("default", "a")) is None
    assert not sealed[0][0].exists()
    spool.close()
    reopened = Spool(tmp_path)
    assert [e.interaction.interaction_id for e in reopened.open()] == ["c"]  # type: ignore[union-attr]
    reopened.close()


async def test_one_process_per_spool_directory(tmp_path: Path) -> None:
    first = Spool(tmp_path / "spool", spares=1)
    first.open()
    second = Spool(tmp_path / "spool", spares=1)
    second.open()  # the directory is taken: the first spare
    assert second.directory == tmp_path / "spool-2"
    third = Spool(tmp_path / "spool", spares=1)
    with pytest.raises(SpoolLocked, match="in use by another process"):
        third.open()
    first.close()
    third.open()  # free again: it takes over, and would replay what the first left
    assert third.directory == tmp_path / "spool"
    second.close()
    third.close()
