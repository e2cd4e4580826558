"""Running a burst worker in-process with settings of the test's choosing."""

from __future__ import annotations

from shared.settings import Settings
from worker.settings import create_worker


async def run_burst_worker(settings: Settings) -> None:
    """Process the queue until it is empty (arq's burst mode), then close the worker."""
    worker = create_worker(settings, burst=True, poll_delay=0)
    try:
        await worker.main()
    finally:
        await worker.close()
