"""Coalescing of concurrent predict requests into one predictor call (the one-process server).

Predicting costs a fixed overhead per call besides the work per arch, so 50 clients asking for one
arch each are served far faster by one call for 50 archs. :class:`MicroBatcher` runs calls in one
worker thread: while a call runs, new requests queue, and the next call takes all of them (up to
``max_items`` archs). A lone request never waits for company. Calls of at most ``inline_items`` archs
run on the event loop itself: handing them to the thread and back costs more than they do (and the GIL
serialises the work anyway). Under Ray Serve, ``@serve.batch``
plays this part (see :mod:`nasedge.service.ray_deployment`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

J = TypeVar("J")


class MicroBatcher(Generic[J]):
    """``await submit(job)``: the result of ``run(jobs)[i]`` for this job (raised if an exception)."""

    def __init__(self, run: Callable[[Sequence[J]], Sequence[Any]], size: Callable[[J], int], max_items: int,
                 on_batch: Callable[[int, int], None] | None = None, inline_items: int = 0):
        self._run, self._size, self.max_items, self.inline_items = run, size, max_items, inline_items
        self._on_batch = on_batch
        self._queue: deque[tuple[J, asyncio.Future]] = deque()
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nasedge-predict")

    async def submit(self, job: J) -> Any:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append((job, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        result = await future
        if isinstance(result, BaseException):
            raise result
        return result

    def _take(self) -> list[tuple[J, asyncio.Future]]:
        taken, items = [], 0
        while self._queue and (not taken or items + self._size(self._queue[0][0]) <= self.max_items):
            entry = self._queue.popleft()
            items += self._size(entry[0])
            taken.append(entry)
        return taken

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            await asyncio.sleep(0)  # let the requests that are ready join this call
            batch = self._take()
            jobs = [job for job, _ in batch]
            items = sum(self._size(j) for j in jobs)
            try:
                if items <= self.inline_items:
                    results = self._run(jobs)
                else:
                    results = await loop.run_in_executor(self._executor, self._run, jobs)
            except Exception as exc:  # noqa: BLE001  (every waiter gets the failure; the server maps it)
                results = [exc] * len(batch)
            if self._on_batch is not None:
                self._on_batch(len(jobs), items)
            for (_, future), result in zip(batch, results):
                if not future.done():  # its client may have gone away
                    future.set_result(result)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
