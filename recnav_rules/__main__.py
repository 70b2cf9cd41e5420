"""``python -m recnav_rules``: the same as the ``recnav-rules`` command."""

from recnav_rules.cli import main

raise SystemExit(main())
