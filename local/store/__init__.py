"""The simulated BigCommerce store (``python -m local.store --port 8081 --seed 42``).

Python: ``SimulatedStore(seed=42, store_hash=..., token=..., username=..., password=...,
port=0).start()`` -> ``.url`` (``.api_url`` = token base, ``.legacy_url`` = basic-auth
``store.url``), ``.stop()``; in-process ``create/update/delete/bulk/get/count/changes/
stats/set_faults/set_clock_skew/now/reset``.

HTTP control API (no auth, never rate-limited):
  POST   /_admin/{resource}          partial body -> full record (``date_modified`` may backdate)
  POST   /_admin/{resource}/bulk     {"count": N, "date_modified": ISO?, "per_second": k?}
  PUT    /_admin/{resource}/{id}     partial update; date_modified -> the store's now
  DELETE /_admin/{resource}/{id}
  GET    /_admin/changes[?since=ISO] [{"resource","id","operation": CREATED|UPDATED|DELETED,
                                       "date_modified": ISO UTC}], oldest first
  POST   /_admin/faults              {"quota","window_ms","clock_skew_s"} persist; {"error_rate",
                                     "status","latency_ms","repeat_pages"} apply to the next
                                     "count" API requests (default 1); "burst_429": next N -> 429
  GET    /_admin/stats               requests per endpoint, throttled_429, errors_injected,
                                     max_requests_in_window (429s included), quota, window_ms
  POST   /_admin/reset               seeded data, default quota, no faults, empty logs
Resources: orders, products, customers, subscribers, pricelists, categories, brands.
"""

from local.store.data import RESOURCES, ResourceSpec
from local.store.server import SimulatedStore

__all__ = ["RESOURCES", "ResourceSpec", "SimulatedStore"]
