"""Keep presidio and its helpers off the network.

presidio's e-mail recognizer validates domains with ``tldextract``, whose
module-level extractor fetches the public-suffix list on first use. We give
the recognizer its own extractor that reads only the snapshot bundled with
``tldextract``, and we set the environment variable tldextract reads, so any
other extractor built in this process is offline too.
"""

from __future__ import annotations

import os
from functools import lru_cache

# Set before tldextract is imported anywhere: its module-level extractor reads
# the variable when constructed, and an empty value disables every download.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import tldextract  # noqa: E402  (must follow the environment set-up above)


@lru_cache(maxsize=1)
def offline_tld_extractor() -> tldextract.TLDExtract:
    """A tldextract extractor that uses only the public-suffix list bundled with it.

    No URL to fetch and no cache folder, so it neither downloads nor writes.
    """
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
