"""Measurement helpers: environment fingerprint, timers, memory."""
