"""rassflow.plan: the batches, the paths and the plan of a run."""

from __future__ import annotations

import pytest

from rassflow.plan import BATCHES_PER_JOB, MERGE_SOURCES, plan_batches


def skyfields(*sizes: int) -> dict[str, list[dict]]:
    """{seq: rows} with ``sizes[i]`` members in the i-th skyfield."""
    return {
        f"RS93{i:04d}N00": [{"id_name": f"S{i}-{k}"} for k in range(n)]
        for i, n in enumerate(sizes, start=1)
    }


def assert_every_member_once(by_seq, batches):
    ran = [row["id_name"] for _, _, rows in batches for row in rows]
    assert ran == [row["id_name"] for seq in sorted(by_seq) for row in by_seq[seq]]
    assert len({(seq, tag) for seq, tag, _ in batches}) == len(batches)


def test_big_skyfields_alone_and_small_ones_gathered():
    by_seq = skyfields(40, 1, 2, 1, 30, 1)
    batches = plan_batches(by_seq, 2)  # 75 sources: at most 38 per batch, at least 10
    assert [(tag, len(rows)) for _, tag, rows in batches] == [
        ("RS930001N00-part1of2", 20),
        ("RS930001N00-part2of2", 20),
        ("RS930002N00-to-RS930004N00", 4),  # closed by the big skyfield after it
        ("RS930005N00-part1of1", 30),
        ("RS930006N00-part1of1", 1),
    ]
    assert batches[2][0] == "RS930002N00"  # a gathered batch sits under its first skyfield
    assert_every_member_once(by_seq, batches)


def test_gathering_stops_at_the_fewest_sources():
    by_seq = skyfields(*[3] * 40)  # 120 sources, 2 jobs: batches of at least 15
    batches = plan_batches(by_seq, 2)
    assert all(len(rows) == 15 for _, _, rows in batches)
    assert len(batches) == 8 == BATCHES_PER_JOB * 2
    assert_every_member_once(by_seq, batches)


def test_many_jobs_gather_at_most_merge_sources():
    by_seq = skyfields(*[1] * 1000)  # 1,000 one-member skyfields on 10 job slots
    batches = plan_batches(by_seq, 10)
    assert {len(rows) for _, _, rows in batches} == {MERGE_SOURCES}
    assert_every_member_once(by_seq, batches)


def test_more_jobs_than_sources_one_batch_per_skyfield():
    by_seq = skyfields(2, 2, 4)
    batches = plan_batches(by_seq, 2)  # 8 sources: at least 1, at most 4
    assert [tag for _, tag, _ in batches] == [
        "RS930001N00-part1of1",
        "RS930002N00-part1of1",
        "RS930003N00-part1of1",
    ]
    split = plan_batches(by_seq, 8)  # at most 1 per batch
    assert [tag for _, tag, _ in split][-4:] == [f"RS930003N00-part{k}of4" for k in range(1, 5)]
    assert_every_member_once(by_seq, split)


@pytest.mark.parametrize("jobs", [1, 3, 64])
def test_a_gathered_batch_never_exceeds_a_slice(jobs):
    by_seq = skyfields(*[5, 1, 7, 2, 2, 9, 1, 1, 3] * 7)
    total = sum(map(len, by_seq.values()))
    batches = plan_batches(by_seq, jobs)
    most = -(-total // jobs)
    assert all(len(rows) <= most for _, _, rows in batches)
    assert_every_member_once(by_seq, batches)
