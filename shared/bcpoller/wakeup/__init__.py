"""Wake-up (issue 18): BigCommerce webhooks ask for a poll; polling stays the source of truth.

- ``scopes``: which webhook scopes cover which polled resources;
- ``hooks``: keep an instance's hooks on the store as wanted (register, repair, remove);
- ``coalesce``: the wake-up route's decision and the woken poll's loop, so that a burst of
  hooks means a few polls: at most one running and one waiting per instance.

Domain code only: the table, KMS and the store's hook API are passed in (adapters).
"""
