"""Errors a user can act on. Each message names the problem and the fix."""


class ArchlabError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class ParamsError(ArchlabError, ValueError):
    """A parameter value is invalid: against the schema, or against the data it asks for."""


class MissingResourceError(ArchlabError):
    """A dataset or weight file is absent and cannot be downloaded in this run."""


class CorruptResourceError(ArchlabError):
    """A dataset or weight file exists but fails its checksum or cannot be read."""
