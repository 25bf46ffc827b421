"""coursekit.gpu.streams: the pipeline kernel against its reference and memory contract, the chunked
pipeline on one and several streams, and what numba-cuda's simulator does with streams, pinned
memory and events (it accepts them and runs everything synchronously)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import cuda

from coursekit.gpu import sim_switch, streams
from coursekit.gpu.contract import check_contract

TINY = {"warmup": 0, "min_time": 0.0, "max_time": 0.0, "min_samples": 3}

pytestmark = [
    pytest.mark.filterwarnings(r"ignore:.*Grid size \d+ will likely result in GPU under-utilization"),
    pytest.mark.filterwarnings("ignore:.*Host array used in CUDA kernel will incur copy overhead"),
]


def data(n: int) -> np.ndarray:
    return ((np.arange(n) - n // 2) / 4).astype(np.float32)


@pytest.mark.parametrize("n", [1, 31, 33, 32 + 45])
def test_fma_chain_matches_its_reference_and_contract(n):
    x, out = data(n), np.full(n, np.nan, np.float32)
    blocks = (n + 31) // 32 + 1  # a spare block: its threads must stay idle
    streams.fma_chain[blocks, 32](x, out, 5)
    np.testing.assert_allclose(out, streams.fma_chain_reference(x, 5), rtol=1e-6, atol=1e-7)
    check_contract(
        streams.fma_chain, blocks, 32, x, np.full(n, np.nan, np.float32), 5,
        reads=1, writes=1, shared_writes=0, barriers=0, coalesced=("x", "out"),
        expect={"out": streams.fma_chain_reference(x, 5)},
    )  # fmt: skip


def test_fma_chain_reference_stays_bounded():
    v = streams.fma_chain_reference(np.array([-3.0, 0.0, 3.0], np.float32), 2000)
    assert np.all(np.abs(v) < 3) and v.dtype == np.float32


@pytest.mark.parametrize("n_streams, chunks", [(1, 3), (2, 3), (3, 7)])
def test_pipeline_gives_the_same_result_on_any_number_of_streams(n_streams, chunks):
    n = 250  # chunks of unequal size
    x = data(n)
    h_in, h_out = cuda.pinned_array(n, np.float32), cuda.pinned_array(n, np.float32)
    h_in[:], h_out[:] = x, np.nan
    size = -(-n // chunks)
    ss = [cuda.stream() for _ in range(n_streams)]
    buffers = [(cuda.device_array(size, np.float32), cuda.device_array(size, np.float32)) for _ in ss]
    streams.run_pipeline(h_in, h_out, buffers, ss, chunks, work=4, threads=32)
    np.testing.assert_allclose(h_out, streams.fma_chain_reference(x, 4), rtol=1e-6, atol=1e-7)


def test_transfer_rates_and_overlap_return_their_keys():
    rates = streams.transfer_rates(4096, **TINY)
    assert rates["nbytes"] == 4096
    assert all(rates[f"{d}_{m}_gbs"] > 0 for d in ("h2d", "d2h") for m in ("pageable", "pinned"))
    result = streams.measure(600, 2048, chunks=3, n_streams=2, work=2, **TINY)
    assert result["n_streams"] == 2 and result["nbytes"] == 2 * 600 * 4 and result["transfer_nbytes"] == 2048
    assert result["speedup"] == pytest.approx(result["serial_s"] / result["overlapped_s"])
    assert result["longest_stage_s"] == max(result["h2d_s"], result["kernel_s"], result["d2h_s"])


@pytest.mark.skipif(not sim_switch.enabled(), reason="what the simulator does, checked on the simulator")
def test_the_simulator_accepts_streams_pinned_memory_and_events_but_times_nothing():
    s = cuda.stream()
    s.synchronize()
    pinned = cuda.pinned_array(8, np.float32)
    assert type(pinned) is np.ndarray  # plain host memory: nothing is page-locked
    d = cuda.device_array(8, np.float32)
    d.copy_to_device(np.ones(8, np.float32), stream=s)
    d.copy_to_host(pinned, stream=s)
    assert (pinned == 1).all()
    start, end = cuda.event(), cuda.event()
    start.record(s)
    end.record(s)
    assert start.elapsed_time(end) == -1.0  # "the output is meaningless"
    with pytest.raises(TypeError):
        cuda.event(timing=True)  # numba-cuda on a GPU takes it; the simulator's Event does not
