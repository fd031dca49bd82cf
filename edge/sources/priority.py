"""Per-thread scheduling priority (Linux: each thread has its own nice value)."""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger(__name__)


def lower_thread_priority(increment: int) -> bool:
    """Raise the calling thread's niceness by ``increment``; return whether it changed.

    Lowering one's own priority needs no privilege. On Linux ``setpriority``
    with a thread id affects only that thread; elsewhere (or when the call is
    refused) the thread keeps its priority and a debug line says why.
    """
    if increment <= 0:
        return False
    if not hasattr(os, "setpriority"):
        logger.debug("per-thread priority is not available on this platform")
        return False
    thread_id = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(19, current + increment))
    except OSError as exc:
        logger.debug("could not lower thread %d priority: %s", thread_id, exc)
        return False
    return True
