"""Errors a user can act on. Each message names the problem and the fix.

Each class carries the exit code the command line (``python -m archlab``) returns for it, so a
script can tell a bad parameter from missing data from a failed run (see :data:`EXIT_CODES`).
"""


class ArchlabError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""

    exit_code = 1  # a run that failed for a reason of its own


class ParamsError(ArchlabError, ValueError):
    """A parameter value is invalid: against the schema, or against the data it asks for."""

    exit_code = 2


class MissingResourceError(ArchlabError):
    """A dataset or weight file is absent and cannot be downloaded in this run."""

    exit_code = 3


class CorruptResourceError(ArchlabError):
    """A dataset or weight file exists but fails its checksum or cannot be read."""

    exit_code = 4


class NonFiniteLossError(ArchlabError):
    """A training loss became NaN or infinite: the run stops instead of writing garbage weights."""


EXIT_CODES = {
    0: "success",
    1: "the run failed (a job raised an error, or wrote less than it declares)",
    2: "bad params or command line (params.yaml/config/<profile>.yaml, a wildcard, an option)",
    3: "missing data or weights (not prepared, not downloaded, no internet to fetch them)",
    4: "corrupt data or weights (a file exists but cannot be read or fails its checksum)",
}


def first_line(exc: BaseException) -> str:
    """An exception's first line (a library's multi-line message shortened to what a one-line error can hold)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def exit_code(exc: BaseException) -> int:
    """The documented exit code for ``exc`` (1 for anything that is not an :class:`ArchlabError`)."""
    return getattr(exc, "exit_code", 1) if isinstance(exc, ArchlabError) else 1
