"""Datasets from their official formats into uint8 tensors, with checksums.

Each dataset module exposes `verify(root=None) -> dict[str, str]` (file -> sha256, raising
DataError naming the file, the expected checksum and how to get it) for `nasrepro data verify`.
"""
