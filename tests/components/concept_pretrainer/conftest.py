"""The concept-pretrainer tests import their data generator (concept_data) by name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
