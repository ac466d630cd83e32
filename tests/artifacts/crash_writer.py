"""Child process for the crash test: registers large model folders in a loop until killed."""

from __future__ import annotations

import sys
from pathlib import Path

from lmops_core.settings import Settings
from lmops_core.workspace import Workspace


def main(home: str, folder: str) -> None:
    ws = Workspace.open(Settings(home=Path(home), actor="crash-writer", load_entry_points=False))
    weights = Path(folder) / "model.safetensors"
    i = 0
    print("ready", flush=True)
    while True:
        # A new last byte each time makes every upload new content.
        with open(weights, "r+b") as fh:
            fh.seek(-8, 2)
            fh.write(i.to_bytes(8, "little"))
        ws.register_model("crashy", folder)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
