"""GPU programming without a GPU: the course's CUDA kernels (:mod:`.kernels`, numba-cuda), the
tracer that runs a kernel thread by thread and records its memory accesses (:mod:`.tracer`,
:mod:`.tracer_plots`), with warps whose lanes shuffle and vote in lockstep (:mod:`.warp_sync`),
a faster runner for barrier-free kernels that records nothing (:mod:`.serial`), the memory
contracts checked on those traces (:mod:`.contract`), occupancy (:mod:`.occupancy`), CUDA streams
(:mod:`.streams`), OpenCL on the CPU (:mod:`.opencl`) and the switch for numba-cuda's CPU
simulator (:mod:`.sim_switch`)."""
