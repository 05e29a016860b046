"""Atomic writes: complete or absent, never half-written, with normal permissions."""

import os
import stat

import pytest

from nasrepro.files import atomic_write_bytes, atomic_write_text, atomic_write_with, sha256_file


def test_atomic_write_gives_umask_permissions_not_private(tmp_path):
    # regression: mkstemp's 0600 leaked into records and shipped tables
    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_write_with(tmp_path / "b.bin", lambda p: p.write_bytes(b"y"))
    finally:
        os.umask(mask)
    for name in ("a.txt", "b.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_failed_writer_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_bytes(target, b"old")

    def broken(p):
        p.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_with(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_sha256_file(tmp_path):
    (tmp_path / "e").write_bytes(b"")
    assert sha256_file(tmp_path / "e").startswith("e3b0c442")
