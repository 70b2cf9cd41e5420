"""The decision log: every decision kept, tamper-evident, replayable, with no personal data.

``DecisionLog`` is the API (see ``log.py`` and docs/audit.md); ``recnav-rules log ...`` the
commands (``commands.py``).
"""

from recnav_rules.audit.log import DecisionLog, LogEntry
from recnav_rules.audit.replay import Replayed, ReplayResult
from recnav_rules.audit.store import Checkpoint, DecisionLogError
from recnav_rules.audit.verify import VerifyResult

__all__ = ["Checkpoint", "DecisionLog", "DecisionLogError", "LogEntry", "ReplayResult", "Replayed", "VerifyResult"]
