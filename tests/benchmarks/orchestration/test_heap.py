"""Freed heap memory handed back between fits: a planted fragmented heap shrinks, values untouched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: Fills the heap with 64 KiB blocks (below glibc's mmap threshold), frees all but the last (which pins the top of
#: the heap, so free() cannot shrink it), then prints the anonymous resident MiB before and after the release.
PLANTED = """
import numpy as np
from benchmarks.orchestration.heap import release_freed_memory

def anon_mib():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024

blocks = [np.ones(8192) for _ in range(4000)]  # 4000 x 64 KiB = 250 MiB, every page written
last = blocks[-1]
del blocks
before = anon_mib()
released = release_freed_memory()
print(before, anon_mib(), released, last.sum())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim and /proc (Linux)")
def test_a_fragmented_heap_is_returned_and_the_live_block_kept() -> None:
    output = subprocess.run([sys.executable, "-c", PLANTED], capture_output=True, text=True, check=True).stdout
    before, after, released, live_sum = output.split()
    if released == "False" and float(before) - float(after) < 1:
        pytest.skip("this C library has no malloc_trim (not glibc)")
    assert float(before) - float(after) > 150  # MiB handed back of the 250 freed
    assert float(live_sum) == 8192.0



#: Allocates, writes and frees 100 torch blocks of 40 MB (an attention batch's size) of slightly varying sizes, with or
#: without keep_freed_blocks(); prints whether it was set, the minor page faults taken and a checksum of the values.
#: (torch's CPU allocator asks glibc for plain pages; numpy's asks for transparent huge pages, 512 times fewer faults.)
REUSED = """
import resource, sys
import torch
from benchmarks.orchestration.heap import keep_freed_blocks

kept = keep_freed_blocks() if sys.argv[1] == "keep" else False
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
total = 0.0
for step in range(100):
    block = torch.empty((9600 + 50 * (step % 7), 1024))
    block.fill_(step)
    total += float(block[-1, -1])
    del block
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, total)
"""


def _reuse_run(mode: str, **environment: str) -> tuple[str, int, float]:
    output = subprocess.run([sys.executable, "-c", REUSED, mode], capture_output=True, text=True, check=True,
                            env={**os.environ, **environment}).stdout
    kept, faults, total = output.split()
    return kept, int(faults), float(total)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and page-fault counts (Linux)")
def test_kept_blocks_are_reused_instead_of_faulted_in_every_step() -> None:
    kept, kept_faults, kept_total = _reuse_run("keep")
    if kept == "False":
        pytest.skip("this C library has no mallopt (not glibc)")
    _, fresh_faults, fresh_total = _reuse_run("fresh")
    assert kept_total == fresh_total == sum(range(100))
    if fresh_faults < 100 * 9000:  # each block not faulted in page by page (e.g. huge pages for every mapping)
        pytest.skip(f"glibc's defaults took only {fresh_faults} page faults for 100 fresh 40 MB blocks here: "
                    "nothing to reuse")
    assert kept_faults < fresh_faults / 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's environment settings (Linux)")
def test_a_users_malloc_setting_is_kept() -> None:
    kept, _, _ = _reuse_run("keep", MALLOC_MMAP_THRESHOLD_="131072")
    assert kept == "False"
