"""What this machine has, read in one place: the CPUs this process may use (affinity and cgroup
quota), caches, memory, the GPU (:mod:`.device`, :mod:`.memory`), the SIMD paths each library
took (:mod:`.cpu_paths`) and the thread pools of BLAS, torch, numexpr and numba (:mod:`.threads`)."""
