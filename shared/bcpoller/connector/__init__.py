"""The BigCommerce connector: credentials, paged reads, the rate-limit governor, retries, OAuth.

Domain code receives a ``BigCommerceClient`` (or a fake) as a parameter; this package is an
adapter and the only place besides the delivery sender that talks HTTP to the outside.
"""
