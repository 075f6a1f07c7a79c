"""Parse ``"local"``, ``"local:N"`` or a scheduler address.

Used by :func:`skfmnist.dask.use_cluster` and by the command line, which
checks ``--scheduler`` while it parses its arguments. Plain string parsing:
nothing here needs ``distributed``.
"""

import re
from typing import NamedTuple

__all__ = ["SchedulerSpec", "parse_scheduler"]

DEFAULT_PORT = 8786
# host:port, with an optional protocol (tcp://, tls://, ucx://, ws://...).
_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+.-]*://)?(?:\[[0-9a-fA-F:]+\]|[\w.-]+):\d+$")


class SchedulerSpec(NamedTuple):
    """Where the work runs: a new local cluster or an existing scheduler."""

    #: ``"local"`` (start a ``LocalCluster``) or ``"address"`` (connect).
    kind: str
    #: Workers of a local cluster; None: one per CPU core.
    n_workers: int | None = None
    #: Address of a running scheduler, for ``kind="address"``.
    address: str | None = None


def parse_scheduler(text):
    """Parse ``"local"``, ``"local:N"`` or a scheduler address.

    Parameters
    ----------
    text : str
        ``"local"`` (a local cluster with one single-threaded worker per
        core), ``"local:N"`` (N such workers) or the address of a running
        scheduler, ``host:port`` or ``protocol://host:port`` (``dask
        scheduler`` listens on port 8786 by default).

    Returns
    -------
    spec : SchedulerSpec
        What to start or connect to.

    Raises
    ------
    ValueError
        If ``text`` is none of these, with a message that shows the accepted
        forms.

    Examples
    --------
    >>> from skfmnist.dask._spec import parse_scheduler
    >>> parse_scheduler("local:2")
    SchedulerSpec(kind='local', n_workers=2, address=None)
    >>> parse_scheduler("tcp://10.0.0.5:8786")
    SchedulerSpec(kind='address', n_workers=None, address='tcp://10.0.0.5:8786')
    """
    if not isinstance(text, str):
        raise TypeError(f"the scheduler must be a string, got {type(text).__name__}")
    text = text.strip()
    if text == "local":
        return SchedulerSpec("local")
    if text.startswith("local:"):
        count = text[len("local:") :]
        if not (count.isdigit() and int(count) > 0):
            raise ValueError(
                f"'local:N' needs a positive number of workers N, got {count!r} "
                f"in {text!r}"
            )
        return SchedulerSpec("local", n_workers=int(count))
    if _ADDRESS.match(text):
        return SchedulerSpec("address", address=text)
    raise ValueError(
        f"expected 'local', 'local:N' or the address of a running scheduler "
        f"(host:port or tcp://host:port; 'dask scheduler' listens on port "
        f"{DEFAULT_PORT}), got {text!r}"
    )
