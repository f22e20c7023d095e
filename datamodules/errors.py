"""The one exception type for cache and input-file problems."""

from __future__ import annotations


class DataContractError(ValueError):
    """An input file breaks the data contract.

    The message always names the file, the offending key (where there is one), the bad value and what was
    expected, so that a user can fix the file without reading a traceback.
    """


def contract_error(path: object, problem: str, key: str | None = None) -> DataContractError:
    """Build a :class:`DataContractError` whose message reads ``<path>: key '<key>': <problem>``.

    Parameters
    ----------
    path : path-like or str
        The file (or directory) whose content is wrong.
    problem : str
        What is wrong and what was expected.
    key : str, optional
        The segment key or JSON field the problem belongs to.
    """
    where = f"{path}" if key is None else f"{path}: key {key!r}"
    return DataContractError(f"{where}: {problem}")
