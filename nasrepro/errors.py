"""Errors the suite raises on purpose: each message says what is wrong and what to do."""


class NasreproError(Exception):
    """Base class for errors a user can act on."""


class DataError(NasreproError):
    """Missing or corrupt data file (the message names the file, checksum and a fix)."""


class ConfigError(NasreproError):
    """A bad option, tier, claim ID or configuration value."""


class CorruptFileWarning(UserWarning):
    """A stage or cache file could not be read: it was moved aside and is recomputed."""
