"""The one offline setting only this plugin can make: presidio's domain check.

presidio's e-mail recognizer validates domains with ``tldextract``. The process-wide
switch (``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` empty, so tldextract's own module-level
extractor never downloads) is set by the core with the other offline defaults
(:mod:`lmops_core.offline`), before any plugin is imported. What the core cannot do
is build the extractor our recognizer uses; that lives here. It is built on first
use, not at import, so loading the plugin does not import tldextract.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tldextract


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """A tldextract extractor that uses only the public-suffix list bundled with it.

    No URL to fetch and no cache folder, so it neither downloads nor writes,
    whatever the environment says.
    """
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
