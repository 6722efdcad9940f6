"""MicroBatcher: concurrent submissions share predictor calls; failures reach their own callers."""

from __future__ import annotations

import asyncio
import threading

from nasedge.service.batching import MicroBatcher


def test_concurrent_jobs_are_coalesced():
    calls = []
    gate = threading.Event()

    def run(jobs):
        gate.wait(5)  # the first call holds the worker while the others queue
        calls.append(list(jobs))
        return [ValueError(j) if j < 0 else j * 10 for j in jobs]

    async def main():
        batcher = MicroBatcher(run, size=lambda j: 1, max_items=4)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(j)) for j in (2, 3, -4, 5, 6, 7)]
        await asyncio.sleep(0.05)
        gate.set()
        out = await asyncio.gather(first, *rest, return_exceptions=True)
        batcher.close()
        return out

    out = asyncio.run(main())
    assert out[:3] == [10, 20, 30] and isinstance(out[3], ValueError) and out[4:] == [50, 60, 70]
    assert calls == [[1], [2, 3, -4, 5], [6, 7]]  # at most max_items per call, in order


def test_a_failing_call_fails_its_jobs_only():
    def run(jobs):
        if 0 in jobs:
            raise RuntimeError("boom")
        return list(jobs)

    async def main():
        batcher = MicroBatcher(run, size=lambda j: 1, max_items=1)
        results = await asyncio.gather(batcher.submit(0), batcher.submit(1), return_exceptions=True)
        batcher.close()
        return results

    bad, good = asyncio.run(main())
    assert isinstance(bad, RuntimeError) and good == 1


def test_oversized_job_runs_alone():
    sizes = []

    async def main():
        batcher = MicroBatcher(lambda jobs: (sizes.append(len(jobs)), list(jobs))[1], size=lambda j: j,
                               max_items=5)
        out = await asyncio.gather(*(batcher.submit(j) for j in (9, 1, 1)))
        batcher.close()
        return out

    assert asyncio.run(main()) == [9, 1, 1] and sizes[0] == 1


def test_small_calls_run_on_the_event_loop_and_still_coalesce():
    calls = []

    def run(jobs):
        calls.append((list(jobs), threading.get_ident()))
        return [j * 10 for j in jobs]

    async def main(inline_items):
        batcher = MicroBatcher(run, size=lambda j: 1, max_items=10, inline_items=inline_items)
        out = await asyncio.gather(*(batcher.submit(j) for j in range(1, 6)))
        batcher.close()
        return out

    assert asyncio.run(main(5)) == [10, 20, 30, 40, 50]
    assert calls == [([1, 2, 3, 4, 5], threading.get_ident())]  # one call, on this (the loop's) thread
    calls.clear()
    assert asyncio.run(main(4)) == [10, 20, 30, 40, 50]
    assert calls[0][0] == [1, 2, 3, 4, 5] and calls[0][1] != threading.get_ident()  # larger: the worker
