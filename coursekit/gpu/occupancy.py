"""Occupancy: how many blocks of a kernel fit on one streaming multiprocessor (SM) at once.

An SM keeps every resident thread's registers and every resident block's shared memory on chip,
so a kernel's *resources per thread and per block* decide how many of its blocks can live on an
SM together, and so how many warps the SM can switch between to hide memory latency. The ratio of
resident warps to the SM's maximum is the **occupancy**.

:func:`occupancy` is the rule of thumb as a few lines of arithmetic — the same arithmetic as
NVIDIA's occupancy calculator and ``cudaOccupancyMaxActiveBlocksPerMultiprocessor``, kept simple:

- threads: ``max_threads_per_sm // threads_per_block`` blocks (whole warps: a block of 48 threads
  occupies 2 warps);
- blocks: at most ``max_blocks_per_sm``;
- registers: allocated per warp in units of 256 (``ceil(32 * regs / 256) * 256`` per warp);
  ``registers_per_sm // that`` warps, divided by the warps per block (rounded down);
- shared memory: each block takes its shared bytes plus 1 KiB reserved by the driver, rounded up
  to 128 bytes; ``shared_per_sm // that`` blocks. The SM's shared/L1 split (the *carveout*) is
  assumed at its maximum (228 KiB on an H100); a kernel can ask for less and get more L1.

No GPU is needed: the limits are the published ones of a compute capability (here 9.0: H100,
H200). Occupancy is a means, not a goal: beyond enough warps to hide latency (often ~50 %), more
does not make a kernel faster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

KIB = 1024


@dataclass(frozen=True)
class SMLimits:
    """Per-SM resource limits of one compute capability.

    Counts are per SM unless named per block or per thread; memory in bytes; registers are 32-bit.

    :data:`H100` (compute capability 9.0, also the H200) cites NVIDIA's CUDA C++ Programming Guide,
    "Features and Technical Specifications", table "Technical Specifications per Compute
    Capability", column 9.0: 2048 threads, 32 blocks and 64 warps per SM; 65,536 32-bit registers
    per SM, at most 255 per thread; 228 KiB of shared memory per SM, at most 227 KiB per block, and
    1 KiB per block reserved for the system; at most 1024 threads per block. The allocation units
    (registers per warp in units of 256, shared memory in units of 128 bytes) are those of NVIDIA's
    CUDA Occupancy Calculator (Nsight Compute) for that compute capability.
    """

    name: str
    compute_capability: tuple[int, int]
    warp_size: int
    max_threads_per_sm: int
    max_blocks_per_sm: int
    max_warps_per_sm: int
    registers_per_sm: int
    max_registers_per_thread: int
    max_threads_per_block: int
    shared_bytes_per_sm: int
    max_shared_bytes_per_block: int
    reserved_shared_bytes_per_block: int
    register_unit: int  # registers are allocated per warp in units of this many
    shared_unit_bytes: int  # shared memory is allocated per block in units of this many bytes


H100 = SMLimits(
    name="NVIDIA H100 (compute capability 9.0)",
    compute_capability=(9, 0),
    warp_size=32,
    max_threads_per_sm=2048,
    max_blocks_per_sm=32,
    max_warps_per_sm=64,
    registers_per_sm=65536,
    max_registers_per_thread=255,
    max_threads_per_block=1024,
    shared_bytes_per_sm=228 * KIB,
    max_shared_bytes_per_block=227 * KIB,
    reserved_shared_bytes_per_block=1 * KIB,
    register_unit=256,
    shared_unit_bytes=128,
)
H100_SOURCE = (
    "NVIDIA CUDA C++ Programming Guide, Features and Technical Specifications, compute capability 9.0; "
    "allocation units as in NVIDIA's CUDA Occupancy Calculator"
)


@dataclass(frozen=True)
class Occupancy:
    """What fits on one SM: ``blocks_per_sm`` resident blocks, ``warps_per_sm`` resident warps,
    ``fraction`` = warps / the SM's maximum (0 to 1). ``blocks_by_limit`` holds the blocks each
    resource alone would allow (``threads``, ``blocks``, ``registers``, ``shared memory``);
    ``limited_by`` names the resource(s) reaching the minimum. ``blocks_per_sm == 0`` means the
    block cannot launch at all (too many registers for one block: "too many resources requested")."""

    threads_per_block: int
    registers_per_thread: int
    shared_bytes_per_block: int
    blocks_per_sm: int
    warps_per_sm: int
    fraction: float
    limited_by: tuple[str, ...]
    blocks_by_limit: dict[str, int] = field(default_factory=dict)


def occupancy(
    threads_per_block: int,
    registers_per_thread: int,
    shared_bytes_per_block: int = 0,
    limits: SMLimits = H100,
) -> Occupancy:
    """Resident blocks, warps and occupancy of a kernel on one SM of ``limits`` (default: H100).

    ``registers_per_thread`` as the compiler reports it (numba-cuda:
    ``kernel.get_regs_per_thread()``); ``shared_bytes_per_block``: static plus dynamic shared
    memory in bytes. Raises ``ValueError`` for a block the hardware cannot have (more than
    ``max_threads_per_block`` threads, more registers per thread or shared memory per block than
    allowed). Example: 256 threads x 64 registers with 48 KiB of shared memory -> 4 blocks
    (registers and shared memory both allow 4), 32 warps, 50 %.
    """
    lim = limits
    if not 1 <= threads_per_block <= lim.max_threads_per_block:
        raise ValueError(f"threads_per_block must be 1 to {lim.max_threads_per_block}, got {threads_per_block}")
    if not 0 <= registers_per_thread <= lim.max_registers_per_thread:
        raise ValueError(
            f"registers_per_thread must be 0 to {lim.max_registers_per_thread}, got {registers_per_thread}"
        )
    if not 0 <= shared_bytes_per_block <= lim.max_shared_bytes_per_block:
        raise ValueError(
            f"shared_bytes_per_block must be 0 to {lim.max_shared_bytes_per_block} bytes, got {shared_bytes_per_block}"
        )
    warps_per_block = math.ceil(threads_per_block / lim.warp_size)
    registers_per_warp = math.ceil(registers_per_thread * lim.warp_size / lim.register_unit) * lim.register_unit
    shared_per_block = (
        math.ceil((shared_bytes_per_block + lim.reserved_shared_bytes_per_block) / lim.shared_unit_bytes)
        * lim.shared_unit_bytes
    )
    by_limit = {
        "threads": min(lim.max_threads_per_sm // lim.warp_size, lim.max_warps_per_sm) // warps_per_block,
        "blocks": lim.max_blocks_per_sm,
        "registers": (lim.registers_per_sm // registers_per_warp) // warps_per_block
        if registers_per_warp
        else lim.max_blocks_per_sm,
        "shared memory": lim.shared_bytes_per_sm // shared_per_block,
    }
    blocks = min(by_limit.values())
    warps = blocks * warps_per_block
    return Occupancy(
        threads_per_block=threads_per_block,
        registers_per_thread=registers_per_thread,
        shared_bytes_per_block=shared_bytes_per_block,
        blocks_per_sm=blocks,
        warps_per_sm=warps,
        fraction=warps / lim.max_warps_per_sm,
        limited_by=tuple(k for k, v in by_limit.items() if v == blocks),
        blocks_by_limit=by_limit,
    )


def occupancy_table(
    block_sizes: tuple[int, ...] = (32, 64, 128, 256, 512, 1024),
    registers: tuple[int, ...] = (32, 64, 128),
    shared_bytes_per_block: int = 0,
    limits: SMLimits = H100,
) -> list[dict[str, object]]:
    """One row per (block size, registers per thread): blocks and warps per SM, occupancy (%)
    and what limits it; for a table or a plot."""
    rows = []
    for regs in registers:
        for threads in block_sizes:
            occ = occupancy(threads, regs, shared_bytes_per_block, limits)
            rows.append(
                {
                    "threads_per_block": threads,
                    "registers_per_thread": regs,
                    "blocks_per_sm": occ.blocks_per_sm,
                    "warps_per_sm": occ.warps_per_sm,
                    "occupancy_pct": 100 * occ.fraction,
                    "limited_by": " & ".join(occ.limited_by) if occ.blocks_per_sm else "cannot launch",
                }
            )
    return rows
