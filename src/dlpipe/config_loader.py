"""dlpipe's Kedro configuration loader."""

from __future__ import annotations

import copy
from typing import Any

from kedro.config import OmegaConfigLoader


class MemoizedConfigLoader(OmegaConfigLoader):
    """Kedro's ``OmegaConfigLoader``, reading and resolving each kind of configuration once.

    Kedro reads and resolves every file of a kind on each request, and a run asks for the
    parameters twice (dlpipe's validation hook when the context exists, then Kedro for the
    catalog): 0.3 s each for dlpipe's parameters files on 2 cores. A loader serves one session,
    whose files and runtime parameters do not change while it runs. Each request gets its own
    copy, so a caller that changes what it got changes nothing for the next. Credentials are read
    on every request, as Kedro does (they may come from the environment).
    """

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key in self or key == "credentials":
            return super().__getitem__(key)
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            memo[key] = super().__getitem__(key)
        return copy.deepcopy(memo[key])

    def __setitem__(self, key: str, value: Any) -> None:
        self.__dict__.get("_memo", {}).pop(key, None)
        super().__setitem__(key, value)
