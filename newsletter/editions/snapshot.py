"""Moved to :mod:`newsletter.render.snapshot` (render reads it, so it lives below editions).

Re-exported only until the last importer names the new home; then this module goes.
"""

from newsletter.render.snapshot import (
    AdBlock,
    EditionContent,
    RegionRef,
    SignalBlock,
    SourceRef,
    StoryBlock,
    assembled_at,
)

__all__ = ["AdBlock", "EditionContent", "RegionRef", "SignalBlock", "SourceRef", "StoryBlock", "assembled_at"]
