"""Print the requirements to install, read from pyproject.toml: the Worker's
dependencies plus the named dependency groups. Standard library only."""

import sys
import tomllib
from pathlib import Path

data = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
reqs = list(data["project"]["dependencies"])
for group in sys.argv[1:]:
    reqs += data["dependency-groups"][group]
print("\n".join(reqs))
