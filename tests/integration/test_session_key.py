"""The session signing key when many workers start at once on a new project folder.

`hoc serve --workers N` starts N processes that each ask for the key. Before the fix a
worker could read the key file after another had created it but before it had written it,
and sign its sessions with an empty key: sessions then worked only on the worker that
signed them (and an empty key is no key)."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from houseofcare.api.config import ApiSettings, signing_key

WORKERS = 8


def _key_after(barrier: multiprocessing.synchronize.Barrier, folder: str, out: str) -> None:
    barrier.wait()
    Path(out).write_bytes(signing_key(ApiSettings(), Path(folder)))


def test_workers_starting_together_share_one_whole_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for attempt in range(5):
        folder = tmp_path / f"project-{attempt}"
        barrier = context.Barrier(WORKERS)
        outs = [tmp_path / f"key-{attempt}-{i}" for i in range(WORKERS)]
        workers = [
            context.Process(target=_key_after, args=(barrier, str(folder), str(out)))
            for out in outs
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
            assert worker.exitcode == 0
        keys = {out.read_bytes() for out in outs}
        assert len(keys) == 1
        (key,) = keys
        assert len(key) == 64
        assert sorted(p.name for p in folder.iterdir()) == ["session.key"]
        assert stat.S_IMODE((folder / "session.key").stat().st_mode) == 0o600


def test_a_cut_short_key_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "session.key").write_text("")
    with pytest.raises(RuntimeError, match="no usable session key"):
        signing_key(ApiSettings(), tmp_path)


def test_a_configured_key_is_used_as_it_is(tmp_path: Path) -> None:
    assert signing_key(ApiSettings(secret_key="configured"), tmp_path) == b"configured"
    assert not (tmp_path / "session.key").exists()
