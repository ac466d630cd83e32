"""Annotation and sample review: people labelling, comparing and rating records, and
a reviewer checking a sample of them.

* :mod:`~lmops_core.annotation.labelstudio` writes Label Studio tasks and reads its
  exports;
* :mod:`~lmops_core.annotation.sampling` draws seeded, optionally stratified samples;
* :mod:`~lmops_core.annotation.agreement` measures agreement between annotators;
* :mod:`~lmops_core.annotation.merge` turns the votes on a record into one answer;
* :mod:`~lmops_core.annotation.service` exports and imports through the registry;
* :mod:`~lmops_core.annotation.review` holds sample reviews (table ``sample_reviews``).
"""
