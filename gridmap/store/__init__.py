"""Where cases live: one interface (:class:`CaseStore`), several backends.

- :class:`GeoJSONSeqStore`: GeoJSON files in the data folder, the default;
  several processes on one machine.
- PostGIS (to come): several app servers.

Every backend passes the contract suite in ``tests/store/contract.py``.
"""

from gridmap.store.base import CaseStore, DuplicateCase, StoreError, VersionConflict
from gridmap.store.geojsonseq import GeoJSONSeqStore

__all__ = ["CaseStore", "DuplicateCase", "GeoJSONSeqStore", "StoreError", "VersionConflict"]
