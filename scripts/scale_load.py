"""scale_test.py's load: districts, the files they import (one sub-account per import, so each import's
tree can be checked on its own), sequential district clients, and a poller on every import."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generate_outcomes import GeneratedFile, generate
from harness import progress
from scale_client import Client, ClientFailure

# generate() writes this guid prefix into each template; every import gets a copy with a prefix of its own.
PLACEHOLDER = "tpl0"
# A district client stops after this many imports even while the restarts go on.
MAX_ROUNDS = 50


class Templates:
    """One generated file per size; a copy with its own guid prefix for each import (outcome guids are
    global, so no two imports may share one). A copy is described by its template's figures."""

    def __init__(self, workdir: Path, seed: int) -> None:
        self.workdir = workdir
        self.seed = seed
        self._files: dict[int, tuple[GeneratedFile, bytes]] = {}

    def prepare(self, sizes: set[int]) -> None:
        for rows in sorted(sizes - set(self._files)):
            generated = generate(self.workdir / f"template-{rows}.csv", rows, self.seed, guid_prefix=PLACEHOLDER)
            self._files[rows] = (generated, Path(generated.path).read_bytes())

    def described(self, rows: int) -> GeneratedFile:
        return self._files[rows][0]

    def copy(self, rows: int, prefix: str) -> bytes:
        return self._files[rows][1].replace(f"{PLACEHOLDER}-".encode(), f"{prefix}-".encode())


@dataclass(frozen=True, slots=True)
class District:
    name: str
    id: int  # its root account


@dataclass
class Submitted:
    """One import a client sent: where, how big, and what became of it."""

    phase: str
    district: District
    context_id: int  # a sub-account of the district, holding this import's tree only
    rows: int
    import_id: int | None = None  # set once the upload was accepted
    final: dict[str, Any] | None = None  # the final status the poller saw


@dataclass
class Load:
    client: Client
    templates: Templates
    poll_interval: float
    deadline: float  # time.monotonic() by which every import must be final
    submitted: list[Submitted] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _followers: list[asyncio.Task[None]] = field(default_factory=list)
    _files: int = 0

    async def create_district(self, name: str) -> District:
        account = await self.client.call(
            "provisioning", "POST", "/api/v1/accounts", json_body={"account": {"name": name}}
        )
        return District(name, int(account["id"]))

    async def submit(self, phase: str, district: District, rows: int) -> Submitted:
        """A sub-account of the district, then an upload of a fresh copy of the `rows` file into it."""
        self._files += 1
        prefix = f"f{self._files:05d}"
        account = await self.client.call(
            "provisioning",
            "POST",
            f"/api/v1/accounts/{district.id}/sub_accounts",
            json_body={"account": {"name": f"{district.name} {prefix}"}},
        )
        item = Submitted(phase, district, int(account["id"]), rows)
        self.submitted.append(item)
        created = await self.client.upload(item.context_id, self.templates.copy(rows, prefix), f"{prefix}.csv")
        item.import_id = int(created["id"])
        return item

    async def follow(self, item: Submitted) -> None:
        assert item.import_id is not None
        item.final = await self.client.wait_final(item.context_id, item.import_id, self.poll_interval, self.deadline)
        if item.final is None:
            self.failures.append(f"import {item.import_id} ({item.phase}, {item.district.name}) not final in time")

    def follow_in_background(self, item: Submitted) -> None:
        self._followers.append(asyncio.create_task(self._guarded(self.follow(item))))

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except ClientFailure as exc:
            self.failures.append(str(exc))

    async def run_district(
        self, phase: str, district: District, sizes: list[int], rounds: int, more: Callable[[], bool] | None = None
    ) -> None:
        """One client of a district: upload, poll until final, then the next; `rounds` imports, and more
        while `more()` says so (at most MAX_ROUNDS)."""
        done = 0
        while done < rounds or (more is not None and more() and done < MAX_ROUNDS):
            if time.monotonic() > self.deadline:
                self.failures.append(f"{district.name}: time limit reached in phase {phase}")
                return
            try:
                item = await self.submit(phase, district, sizes[done % len(sizes)])
                await self.follow(item)
            except ClientFailure as exc:
                self.failures.append(str(exc))
                return
            done += 1

    async def queue_backlog(self, phase: str, district: District, sizes: list[int], count: int) -> None:
        """`count` imports into the district at once (a few uploads at a time), each followed by a poller."""
        slots = asyncio.Semaphore(8)

        async def one(number: int) -> None:
            async with slots:
                item = await self.submit(phase, district, sizes[number % len(sizes)])
            self.follow_in_background(item)

        await asyncio.gather(*(self._guarded(one(n)) for n in range(count)))
        progress(f"{district.name}: {count} imports queued")

    async def finish(self) -> None:
        """Wait for every background poller (each bounded by the deadline)."""
        await asyncio.gather(*self._followers)
