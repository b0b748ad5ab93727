"""Copy requirements.lock's versions into pyproject.toml's [tool.uv] block (`make lock`).

`uv lock` takes no constraints file, only `[tool.uv] constraint-dependencies`, so the exact
versions CI installs (requirements.lock, compiled against TFX 1.16's tested constraints) are
written there; `uv lock` then records the same set in uv.lock for uv-native users. The compile
step runs with `--no-config` so the previous pins never constrain a new resolution.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BEGIN, END = "# BEGIN uv pins (make lock)", "# END uv pins"


def main(root: Path) -> None:
    pins = [
        line.split()[0]
        for line in (root / "requirements.lock").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    ]
    block = "\n".join(
        [
            BEGIN,
            "[tool.uv]",
            "environments = [\"sys_platform == 'linux'\"]",
            "constraint-dependencies = [",
            *(f'  "{pin}",' for pin in pins),
            "]",
            END,
        ]
    )
    path = root / "pyproject.toml"
    text = path.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + "\n" + block
    path.write_text(text.rstrip("\n") + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
