"""A bounds checker for Triton's CPU interpreter: an out-of-bounds load or store raises, naming
the program, the tensor and the offsets, instead of reading garbage or corrupting the heap.

Triton's interpreter (``TRITON_INTERPRET=1``) turns every ``tl.load`` / ``tl.store`` into a gather
or scatter on raw addresses and checks none of them: with triton 3.9.0 an unmasked load past the end
returned garbage, a load at offset -1 returned 0.0, and an unmasked store past the end killed the
process. Inside :func:`checked_bounds`, every load, store and atomic of a launched kernel is checked
*before* it happens: each active lane (mask true) must address a whole element inside one tensor
argument of the launch, ``[data_ptr, data_ptr + span)``, where span runs from the tensor's first to
its last element. Masked-out lanes may point anywhere, as on a GPU.

How: the interpreter's own hooks, patched only inside the context manager and restored on exit.
``GridExecutor._init_args_hst`` gives the launch's host tensors (named by the kernel's parameters);
``InterpreterBuilder.create_masked_load`` / ``create_masked_store`` (which plain loads and stores,
tensor descriptors and ``atomic_*`` with masks go through) and ``create_atomic_rmw`` /
``create_atomic_cas`` see each access's addresses and mask, and ``grid_idx`` says which program runs.

Each launch runs on copies of its tensor arguments, each storage copied into a buffer with
:data:`RED_ZONE` unused bytes on either side (copied back after a launch that raised nothing; after
one that raised, the caller's tensors are untouched). So an address a little out of bounds belongs
to no tensor at all, whatever the allocator put next to it. An access is charged to the argument
most of its active lanes fall in (the nearest one when none do), and every active lane must fall in
that one: a block running off ``x`` into a neighbouring view of the same storage is caught too.
Not caught: a block lying wholly inside the *wrong* tensor (addresses do not say which pointer they
came from). Kernels that mix two tensors' pointers in one ``tl.load`` raise (a false alarm).
Tensor descriptors (``tl.make_tensor_descriptor``) are covered: their loads and stores go through
the same masked hooks, so a descriptor that declares a larger shape than its tensor is caught. Block
pointers (``tl.make_block_ptr``) are not: triton 3.9.0 removed them ("Block pointers have been
removed in favor of the tensor descriptor API"). Tied to triton's interpreter
internals: tested against the pinned version (:data:`coursekit.gpu.triton_setup.PINNED`).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

SHOWN = 8  # offending offsets named in the message


class TritonBoundsError(IndexError):
    """A Triton load or store outside every tensor argument; ``program`` is the (x, y, z) program
    id, ``tensor`` the parameter's name, ``op`` "load" or "store", ``offsets`` every offending
    element offset from the tensor's first element (in elements of the access's type)."""

    def __init__(self, program: tuple[int, int, int], tensor: str, op: str, offsets: np.ndarray, message: str):
        super().__init__(message)
        self.program, self.tensor, self.op, self.offsets = program, tensor, op, offsets


@dataclass(frozen=True)
class Region:
    """One tensor argument of a launch: parameter ``name``, first byte ``start``, ``span`` bytes from
    its first element to the end of its last, ``numel`` and ``itemsize`` (bytes)."""

    name: str
    start: int
    span: int
    numel: int
    itemsize: int


def _regions(fn: Any, args_hst: list, kwargs_hst: dict) -> list[Region]:
    """The tensor arguments of one launch, by parameter name (tuples flattened as ``name[i]``)."""
    found: list[Region] = []

    def add(name: str, value: Any) -> None:
        if isinstance(value, tuple):
            for i, item in enumerate(value):
                add(f"{name}[{i}]", item)
        elif hasattr(value, "data_ptr"):
            t = value if hasattr(value, "element_size") else getattr(value, "base", None)  # TensorWrapper
            if t is None:
                return
            itemsize = t.element_size()
            steps = zip(t.shape, t.stride(), strict=True)
            last = sum((size - 1) * stride for size, stride in steps) if t.numel() else -1
            found.append(Region(name, t.data_ptr(), (last + 1) * itemsize, t.numel(), itemsize))

    for name, value in inspect.getcallargs(fn, *args_hst, **kwargs_hst).items():
        add(name, value)
    return found


class _Launch:
    regions: list[Region] = []
    record: list[Access] | None = None


RED_ZONE = 1 << 20  # bytes of unused memory on each side of every tensor argument's copy


def _padded(value: Any, copies: list[tuple[Any, torch.Tensor]], by_storage: dict[int, torch.Tensor]) -> Any:
    """``value`` (a launch argument) with every torch tensor moved into a copy of its storage that has
    :data:`RED_ZONE` bytes on each side, so that nearby out-of-bounds addresses belong to no other
    tensor. Records (original storage, padded bytes) in ``copies`` for the copy back."""
    if isinstance(value, tuple):
        return type(value)(_padded(v, copies, by_storage) for v in value) if not hasattr(value, "_fields") else value
    if not isinstance(value, torch.Tensor) or value.device.type != "cpu":
        return value
    storage = value.untyped_storage()
    key = storage.data_ptr()
    if key not in by_storage:
        nbytes = storage.nbytes()
        padded = torch.empty(nbytes + 2 * RED_ZONE, dtype=torch.uint8)
        padded[RED_ZONE : RED_ZONE + nbytes].copy_(torch.empty(0, dtype=torch.uint8).set_(storage))
        by_storage[key] = padded
        copies.append((storage, padded))
    padded = by_storage[key]
    offset = RED_ZONE // value.element_size() + value.storage_offset()
    return torch.empty(0, dtype=value.dtype).set_(padded.untyped_storage(), offset, value.size(), value.stride())


def _copy_back(copies: list[tuple[Any, torch.Tensor]]) -> None:
    """The kernel's writes, from each padded copy into the storage it was copied from."""
    for storage, padded in copies:
        nbytes = storage.nbytes()
        torch.empty(0, dtype=torch.uint8).set_(storage).copy_(padded[RED_ZONE : RED_ZONE + nbytes])


def _itemsize(ptrs: Any) -> int:
    return max(1, ptrs.get_element_ty().primitive_bitwidth // 8)


@dataclass(frozen=True)
class Access:
    """One load, store or atomic of one program: ``program`` (x, y, z), ``op``, the ``tensor`` it was
    charged to, ``lanes`` (active lanes, elements) and ``itemsize`` (bytes per lane)."""

    program: tuple[int, int, int]
    op: str
    tensor: str
    lanes: int
    itemsize: int


def check_access(
    regions: list[Region], addresses: np.ndarray, active: np.ndarray, itemsize: int
) -> tuple[Region | None, np.ndarray, int]:
    """(the region the access is charged to, the offending offsets in elements from its start, the
    number of active lanes) for one access: every active address (bytes) must lie, with its
    ``itemsize`` bytes, inside that one region. No offending offsets: the access is in bounds;
    no region: no lane was active."""
    addr = np.asarray(addresses, dtype=np.uint64).reshape(-1).astype(np.int64)
    on = np.broadcast_to(np.asarray(active, dtype=bool), np.shape(addresses)).reshape(-1)
    addr = addr[on]
    if addr.size == 0:
        return None, addr, 0
    if not regions:
        raise RuntimeError("the bounds checker saw an access but no tensor argument for this launch")
    inside = [(addr >= r.start) & (addr + itemsize <= r.start + r.span) for r in regions]
    counts = [int(m.sum()) for m in inside]
    best = int(np.argmax(counts))
    if counts[best] == 0:  # no lane in any tensor: the nearest one
        gaps = [np.minimum(np.abs(addr - r.start), np.abs(addr - (r.start + r.span))).min() for r in regions]
        best = int(np.argmin(gaps))
    region = regions[best]
    bad = addr[~inside[best]]
    return region, np.floor_divide(bad - region.start, itemsize), int(addr.size)


def _check(builder: Any, op: str, ptrs: Any, mask: Any) -> None:
    active = np.ones(np.shape(ptrs.data), bool) if mask is None else mask.data
    itemsize = _itemsize(ptrs)
    region, offsets, lanes = check_access(_Launch.regions, ptrs.data, active, itemsize)
    if region is None:
        return
    program = (int(builder.grid_idx[0]), int(builder.grid_idx[1]), int(builder.grid_idx[2]))
    if offsets.size:
        shown = ", ".join(str(int(o)) for o in offsets[:SHOWN]) + (", ..." if offsets.size > SHOWN else "")
        message = (
            f"program {program}: {op} of `{region.name}` out of bounds at element offsets [{shown}] "
            f"({offsets.size} of {lanes} active lanes; `{region.name}` has {region.numel} elements of "
            f"{region.itemsize} bytes, valid offsets 0..{region.span // region.itemsize - 1})"
        )
        raise TritonBoundsError(program, region.name, op, offsets, message)
    if _Launch.record is not None:
        _Launch.record.append(Access(program, op, region.name, lanes, itemsize))


def _bounds_error(exc: BaseException | None) -> TritonBoundsError | None:
    """The :class:`TritonBoundsError` behind the interpreter's wrapping errors, if any."""
    while exc is not None:
        if isinstance(exc, TritonBoundsError):
            return exc
        exc = exc.__cause__
    return None


_depth = 0


@contextlib.contextmanager
def checked_bounds(record: list[Access] | None = None) -> Iterator[None]:
    """Within the block, every Triton kernel run by the interpreter has its loads and stores
    bounds-checked; a bad one raises :class:`TritonBoundsError` before it happens. ``record``, when
    given, receives one :class:`Access` per checked access (a kernel's memory contract, counted).
    Needs ``TRITON_INTERPRET=1`` (on a GPU, use ``compute-sanitizer``)."""
    global _depth
    from triton.runtime import interpreter as interp

    if not _is_interpreting():
        raise RuntimeError("checked_bounds() needs Triton's interpreter (TRITON_INTERPRET=1, set before triton loads)")
    if _depth:  # already patched by an enclosing block
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    builder, executor = interp.InterpreterBuilder, interp.GridExecutor
    saved = {
        (builder, "create_masked_load"): builder.create_masked_load,
        (builder, "create_masked_store"): builder.create_masked_store,
        (builder, "create_atomic_rmw"): builder.create_atomic_rmw,
        (builder, "create_atomic_cas"): builder.create_atomic_cas,
        (executor, "_init_args_hst"): executor._init_args_hst,
        (executor, "_restore_args_dev"): executor._restore_args_dev,
        (executor, "__call__"): executor.__call__,
    }

    def masked_load(self, ptrs, mask, other, cache_policy, is_volatile):
        _check(self, "load", ptrs, mask)
        return saved[(builder, "create_masked_load")](self, ptrs, mask, other, cache_policy, is_volatile)

    def masked_store(self, ptrs, value, mask, cache_policy):
        _check(self, "store", ptrs, mask)
        return saved[(builder, "create_masked_store")](self, ptrs, value, mask, cache_policy)

    def atomic_rmw(self, rmw_op, ptr, val, mask, sem, scope):
        _check(self, "atomic", ptr, mask)
        return saved[(builder, "create_atomic_rmw")](self, rmw_op, ptr, val, mask, sem, scope)

    def atomic_cas(self, ptr, cmp, val, sem, scope):
        _check(self, "atomic", ptr, None)
        return saved[(builder, "create_atomic_cas")](self, ptr, cmp, val, sem, scope)

    def init_args(self, args_dev, kwargs):
        args_hst, kwargs_hst = saved[(executor, "_init_args_hst")](self, args_dev, kwargs)
        copies: list[tuple[Any, torch.Tensor]] = []
        by_storage: dict[int, torch.Tensor] = {}
        args_pad = [_padded(a, copies, by_storage) for a in args_hst]
        kwargs_pad = {k: _padded(v, copies, by_storage) for k, v in kwargs_hst.items()}
        self._coursekit_unpadded = (args_hst, kwargs_hst, copies)
        _Launch.regions = _regions(self.fn, args_pad, kwargs_pad)
        return args_pad, kwargs_pad

    def restore(self, args_dev, args_hst, kwargs, kwargs_hst):
        args_orig, kwargs_orig, copies = self._coursekit_unpadded
        _copy_back(copies)
        return saved[(executor, "_restore_args_dev")](self, args_dev, args_orig, kwargs, kwargs_orig)

    def call(self, *args, **kwargs):
        try:
            return saved[(executor, "__call__")](self, *args, **kwargs)
        except Exception as exc:
            bounds = _bounds_error(exc)
            if bounds is None:
                raise
            raise bounds from None
        finally:
            _Launch.regions = []

    patched = {
        (builder, "create_masked_load"): masked_load,
        (builder, "create_masked_store"): masked_store,
        (builder, "create_atomic_rmw"): atomic_rmw,
        (builder, "create_atomic_cas"): atomic_cas,
        (executor, "_init_args_hst"): init_args,
        (executor, "_restore_args_dev"): restore,
        (executor, "__call__"): call,
    }
    _depth = 1
    _Launch.record = record
    try:
        for (owner, name), fn in patched.items():
            setattr(owner, name, fn)
        yield
    finally:
        for (owner, name), fn in saved.items():
            setattr(owner, name, fn)
        _depth = 0
        _Launch.record = None


def _is_interpreting() -> bool:
    import triton

    return bool(triton.knobs.runtime.interpret)


def first_line(err: BaseException) -> str:
    """The first line of an error's message, as a notebook prints it."""
    return f"{type(err).__name__}: {str(err).splitlines()[0]}"


def traffic_bytes(record: list[Access]) -> int:
    """Bytes a recorded run loaded and stored (active lanes only), summed over every access."""
    return sum(a.lanes * a.itemsize for a in record)
