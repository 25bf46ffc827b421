"""How busy this machine is: its load average against its CPUs.

Timings stored in a notebook's outputs are read by every student as what this kind of machine
does, so they must come from a quiet machine (notebook 04's were once stored at load 3.7 on 2 CPUs,
where numexpr measured 4.6x *slower* than numpy). ``ck.setup()`` prints the load with the machine,
and warns in one line when the machine is busy; ``make notebook``/``make notebooks`` refuse to
store outputs on a busy machine (:func:`main` with ``--check``; ``FORCE=1`` overrides).

The load average counts runnable tasks on the whole machine (a container sees its host's), so it
is compared with the CPUs the machine shows (``os.cpu_count()``), not with those this process may use.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

# More runnable tasks than this per CPU, averaged over a minute, and timings are shared with others.
BUSY_LOAD_PER_CPU = 0.75


@dataclass(frozen=True)
class Load:
    """The one-minute load average (runnable tasks) and the CPUs it is shared by."""

    load_1min: float
    cpus: int

    @property
    def per_cpu(self) -> float:
        """Runnable tasks per CPU, averaged over the last minute."""
        return self.load_1min / self.cpus

    @property
    def busy(self) -> bool:
        """Whether other work competes for the CPUs (more than :data:`BUSY_LOAD_PER_CPU` per CPU).

        >>> Load(3.7, 2).busy, Load(0.4, 2).busy, Load(1.5, 2).busy, Load(1.6, 2).busy
        (True, False, False, True)
        """
        return self.per_cpu > BUSY_LOAD_PER_CPU

    def __str__(self) -> str:
        return f"load {self.load_1min:.1f} on {self.cpus} CPUs"


def current() -> Load | None:
    """This machine's load now; None where the system keeps no load average (Windows)."""
    try:
        load_1min = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return Load(load_1min, os.cpu_count() or 1)


def busy_line(load: Load | None) -> str | None:
    """One line saying the machine is busy and what it means for the timings; None when it is not."""
    if load is None or not load.busy:
        return None
    return (
        f"note: this machine is busy ({load}): the timings below share the CPUs with other work, so "
        "they are slower and noisier than this machine can do. Re-run when it is quiet to compare."
    )


def wait_until_quiet(
    timeout_s: float,
    poll_s: float = 5.0,
    read: Callable[[], Load | None] = current,
    sleep: Callable[[float], None] = time.sleep,
) -> Load | None:
    """The load once the machine is quiet, or after ``timeout_s`` seconds of waiting, whichever
    comes first (polled every ``poll_s`` seconds). The one-minute average still holds the work that
    just ended (the previous notebook's threads), so a run started at once would read as busy."""
    load = read()
    waited_s = 0.0
    while load is not None and load.busy and waited_s < timeout_s:
        sleep(poll_s)
        waited_s += poll_s
        load = read()
    return load


def main(argv: list[str] | None = None) -> int:
    """``--check``: exit 1 with a message when the machine is busy (store no outputs then);
    ``--wait S``: first wait up to S seconds for the load to fall."""
    parser = argparse.ArgumentParser(prog="coursekit.machine.load.main", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the machine is busy")
    parser.add_argument("--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for quiet")
    args = parser.parse_args(argv)
    load = wait_until_quiet(args.wait) if args.wait > 0 else current()
    print(f"{load}" if load else "no load average on this system")
    if args.check and load is not None and load.busy:
        print(
            f"refusing: the machine is busy ({load}, above {BUSY_LOAD_PER_CPU} per CPU); outputs stored now "
            "would show a busy machine's timings. Wait until it is quiet, or set FORCE=1.",
            file=sys.stderr,
        )
        return 1
    return 0
