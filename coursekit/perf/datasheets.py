"""Datasheets of GPUs off the course's device table, and finding a GPU's datasheet by its name.

:data:`~coursekit.perf.reference.PUBLISHED` is the course's device table (notebook 01 draws every
row). A published measurement (``data/published/``) may have run on another GPU; its datasheet
lives in :data:`OTHER_DEVICES`, with the same conventions: FP32 peak at the boost clock on the
CUDA cores (no tensor cores), bandwidth in bytes/s, memory in bytes, launch price in US dollars
(None: not stated on the datasheet).

    >>> datasheet_for("NVIDIA H200, measured here").name
    'NVIDIA H200 SXM'
    >>> datasheet_for("MXNet LeNet, GTX 980 (published)").name
    'NVIDIA GTX 980'
    >>> datasheet_for("Tesla T4") is None
    True
"""

from __future__ import annotations

import re

from coursekit.perf.reference import GB, PUBLISHED, ReferenceDevice

OTHER_DEVICES: dict[str, ReferenceDevice] = {
    d.name: d
    for d in [
        # NVIDIA GeForce GTX 980 (Maxwell GM204, 2014): 2048 CUDA cores, 1126 MHz base / 1216 MHz
        # boost, 4 GB GDDR5 at 7 Gbps on a 256-bit bus = 224 GB/s; FP32 peak 2048 x 2 x 1.216 GHz
        # = 4.98 TFLOPS; launch price $549. (MXNet's LeNet example was measured on it, 2015.)
        ReferenceDevice(
            "NVIDIA GTX 980",
            "GPU",
            2014,
            2048,
            1.216,
            4 * 2**30,
            224 * GB,
            2048 * 1.216e9 * 2,
            549,
            "NVIDIA GeForce GTX 980 specifications",
        ),
        # NVIDIA RTX A6000 (Ampere GA102, 2020) datasheet: 10,752 CUDA cores, 38.7 TFLOPS single
        # precision (10,752 x 2 x 1.80 GHz boost), 48 GB GDDR6 with ECC at 768 GB/s. The GPU that
        # siboehm/SGEMM_CUDA's ladder ran on (notebook 02). The datasheet states no price.
        ReferenceDevice(
            "NVIDIA RTX A6000",
            "GPU",
            2020,
            10752,
            1.80,
            48 * 2**30,
            768 * GB,
            38.7e12,
            None,
            "NVIDIA RTX A6000 datasheet",
        ),
    ]
}


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def datasheet_for(name: str) -> ReferenceDevice | None:
    """The GPU of :data:`~coursekit.perf.reference.PUBLISHED` or :data:`OTHER_DEVICES` whose model
    number (the first word of its name with a digit: ``h100``, ``a6000``, ``980``) is a word of
    ``name`` (a device name or a label, e.g. ``"NVIDIA H200, measured here"``); None when none is."""
    words = set(_tokens(name))
    for device in [*PUBLISHED.values(), *OTHER_DEVICES.values()]:
        if device.kind != "GPU":
            continue
        model = next((t for t in _tokens(device.name) if any(c.isdigit() for c in t)), None)
        if model is not None and model in words:
            return device
    return None
