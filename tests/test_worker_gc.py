"""A worker's start-up objects are frozen out of the cyclic collector (config.celery)."""

from __future__ import annotations

import gc
import weakref

from celery.signals import worker_init, worker_process_init, worker_ready

from config.celery import _collect_and_freeze, _freeze


def _receivers(signal) -> list:
    return [r() if isinstance(r, weakref.ReferenceType) else r for _key, r in signal.receivers]


def test_the_freezers_listen_to_the_workers_start_and_its_pool_processes():
    assert _collect_and_freeze in _receivers(worker_init)
    assert _freeze in _receivers(worker_process_init)
    assert _freeze in _receivers(worker_ready)


def test_a_starting_worker_collects_its_garbage_then_freezes_the_rest():
    gc.unfreeze()
    try:
        garbage = []
        garbage.append(garbage)  # a cycle only the collector can free
        del garbage
        _collect_and_freeze()
        assert gc.get_freeze_count() > 0
        assert gc.collect() == 0  # nothing left over: the garbage went before the freeze
    finally:
        gc.unfreeze()


def test_a_pool_process_freezes_what_it_set_up():
    gc.unfreeze()
    try:
        _freeze()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
