"""lmops-s3: the content-addressed artifact store on an S3-compatible object store.

``LMOPS_ARTIFACT_URI=s3://bucket/prefix`` stores blobs, leases and records under
``prefix`` in ``bucket`` on AWS S3, MinIO, Ceph or any server that speaks the S3
protocol. boto3 is imported when a store is opened, never when the plugin loads.
"""

from __future__ import annotations

__version__ = "0.1.0"
