"""The names ferlite's outputs give the same things, in one place.

Python's :class:`~ferlite.runtime.Faces`, ``ferlite predict``'s JSON, ``ferlite watch``'s records, ``ferlite
analyze``'s tables (CSV, JSON, Parquet), the mood log's export, the REST API and the web page's messages all use
these names. ``tracker_id`` is supervision's name, which ``Faces`` follows; a box is four flat numbers, as a table's
columns are; where a face came from is its ``source`` (a file name), ``frame`` and ``time_s``. Both REST calls take
their uploads in the multipart field ``files``.

Example:
    >>> FACE_FIELDS
    ('face', 'x1', 'y1', 'x2', 'y2', 'confidence', 'tracker_id', 'label')
"""

from __future__ import annotations

BOX_FIELDS = ("x1", "y1", "x2", "y2")
FACE_FIELDS = ("face", *BOX_FIELDS, "confidence", "tracker_id", "label")
WHERE_FIELDS = ("source", "frame", "time_s")
UPLOAD_FIELD = "files"
